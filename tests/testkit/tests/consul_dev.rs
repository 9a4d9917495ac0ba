//! The fixture itself: it starts a working agent, with and without ACLs, and stops it on drop.

use shepard_testkit::{ConsulDev, ConsulDevOptions};

fn consul(args: &[&str]) -> std::process::Output {
    std::process::Command::new("consul")
        .args(args)
        .output()
        .expect("run consul CLI")
}

#[test]
fn starts_with_a_leader_and_stops_on_drop() {
    let dev = ConsulDev::start();
    let port = dev.http_port();
    let info = consul(&["info", &format!("-http-addr=127.0.0.1:{port}")]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("leader = true"));
    drop(dev);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn acl_agent_denies_an_unknown_token_and_accepts_the_master() {
    let dev = ConsulDev::start_with(ConsulDevOptions {
        acl_default_deny: true,
        ..Default::default()
    });
    let addr = format!("-http-addr=127.0.0.1:{}", dev.http_port());
    let denied = consul(&[
        "kv",
        "put",
        &addr,
        "-token=00000000-0000-0000-0000-000000000000",
        "k",
        "v",
    ]);
    assert!(!denied.status.success());
    let token = format!("-token={}", dev.master_token().expect("master token"));
    let allowed = consul(&["kv", "put", &addr, &token, "k", "v"]);
    assert!(allowed.status.success(), "{allowed:?}");
}
