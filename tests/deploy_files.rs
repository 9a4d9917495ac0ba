//! The deployment files do what they say: a real Consul accepts `deploy/consul-policy.hcl` and
//! a token with it can make the agent's calls and nothing outside the prefix, and the
//! configuration that `deploy/shepard.nomad.hcl` renders for the agent passes
//! `shepard config check`.

use std::path::Path;
use std::process::Command;

use hcl::eval::{Context, Evaluate};
use serde_json::{Value, json};
use shepard_testkit::{ConsulDev, ConsulDevOptions};

fn repo_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `method path` against Consul with `token`: status and body.
async fn consul(
    consul: &ConsulDev,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", consul.http_addr()))
        .header("X-Consul-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn the_consul_policy_allows_the_agents_calls_and_nothing_outside_the_prefix() {
    use reqwest::Method;
    let dev = ConsulDev::start_with(ConsulDevOptions {
        acl_default_deny: true,
        ..Default::default()
    });
    let master = dev.master_token().unwrap().to_string();
    let rules = repo_file("deploy/consul-policy.hcl");
    let (status, body) = consul(
        &dev,
        Method::PUT,
        "/v1/acl/policy",
        &master,
        Some(json!({"Name": "shepard", "Rules": rules})),
    )
    .await;
    assert_eq!(status, 200, "policy rejected: {body}");
    let (status, body) = consul(
        &dev,
        Method::PUT,
        "/v1/acl/token",
        &master,
        Some(json!({"Policies": [{"Name": "shepard"}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let token = token["SecretID"].as_str().unwrap().to_string();
    let node = dev.node_name().to_string();

    let (status, body) = consul(&dev, Method::GET, "/v1/agent/self", &token, None).await;
    assert_eq!(status, 200, "agent self: {body}");
    let (status, body) = consul(
        &dev,
        Method::PUT,
        "/v1/session/create",
        &token,
        Some(json!({"Node": node, "TTL": "15s", "Behavior": "release"})),
    )
    .await;
    assert_eq!(status, 200, "session create: {body}");
    let session: Value = serde_json::from_str(&body).unwrap();
    let session = session["ID"].as_str().unwrap();
    let acquire = format!("/v1/kv/shepard/agents/{node}?acquire={session}");
    let (status, body) = consul(&dev, Method::PUT, &acquire, &token, Some(json!({}))).await;
    assert_eq!(
        (status, body.trim()),
        (200, "true"),
        "acquire under the prefix"
    );
    let (status, body) = consul(&dev, Method::GET, "/v1/kv/shepard/?recurse", &token, None).await;
    assert_eq!(status, 200, "list the prefix: {body}");
    // A slot is taken in a transaction: check-not-exists, then lock.
    let slot = "shepard/locks/default/web/web/app/restart_lock/0";
    let take_slot = |key: &str| {
        json!([
            {"KV": {"Verb": "check-not-exists", "Key": key}},
            {"KV": {"Verb": "lock", "Key": key, "Session": session, "Value": "e30=", "Flags": 0}},
        ])
    };
    let (status, body) = consul(&dev, Method::PUT, "/v1/txn", &token, Some(take_slot(slot))).await;
    assert_eq!(status, 200, "slot transaction under the prefix: {body}");
    let renew = format!("/v1/session/renew/{session}");
    let (status, body) = consul(&dev, Method::PUT, &renew, &token, None).await;
    assert_eq!(status, 200, "session renew: {body}");
    let health = format!("/v1/health/node/{node}");
    let (status, body) = consul(&dev, Method::GET, &health, &token, None).await;
    assert_eq!(status, 200, "node health: {body}");

    // Least privilege: nothing outside the prefix, no ACL administration.
    let (status, _) = consul(
        &dev,
        Method::PUT,
        "/v1/kv/other/key",
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403, "a write outside the prefix was allowed");
    let (status, body) = consul(
        &dev,
        Method::PUT,
        "/v1/txn",
        &token,
        Some(take_slot("other/lock")),
    )
    .await;
    // Consul rolls a denied transaction back: 409, each operation "Permission denied".
    assert_eq!(status, 409, "a transaction outside the prefix: {body}");
    assert!(body.contains("Permission denied"), "{body}");
    let (status, _) = consul(&dev, Method::GET, "/v1/kv/other/key", &token, None).await;
    assert!(
        status == 403 || status == 404,
        "read outside the prefix: {status}"
    );
    let (status, _) = consul(&dev, Method::GET, "/v1/acl/tokens", &token, None).await;
    assert_eq!(status, 403, "the token can list ACL tokens");
}

/// The body of the job's `template` block rendered to `destination`, its HCL interpolations
/// (`${var.…}`) evaluated with the variables' defaults.
fn job_template(destination: &str) -> String {
    let job: hcl::Body = hcl::from_str(&repo_file("deploy/shepard.nomad.hcl")).unwrap();
    let mut vars = hcl::Map::new();
    for block in job.blocks().filter(|b| b.identifier() == "variable") {
        let name = block.labels()[0].as_str().to_string();
        if let Some(default) = block.body().attributes().find(|a| a.key() == "default") {
            vars.insert(name, default.expr().evaluate(&Context::new()).unwrap());
        }
    }
    let mut context = Context::new();
    context.declare_var("var", hcl::Value::Object(vars));
    let mut stack: Vec<&hcl::Block> = job.blocks().collect();
    while let Some(block) = stack.pop() {
        stack.extend(block.body().blocks());
        if block.identifier() != "template" {
            continue;
        }
        let attr = |key: &str| block.body().attributes().find(|a| a.key() == key);
        let dest = attr("destination").map(|a| a.expr().evaluate(&context).unwrap());
        if dest == Some(hcl::Value::from(destination)) {
            let data = attr("data").expect("template data").expr();
            return data
                .evaluate(&context)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
        }
    }
    panic!("no template renders {destination}");
}

#[test]
fn the_job_renders_a_configuration_the_agent_accepts() {
    // What Nomad's template runtime fills in on a client.
    let config = job_template("local/shepard.hcl")
        .replace(r#"{{ env "NOMAD_IP_metrics" }}"#, "10.0.0.5")
        .replace(r#"{{ env "NOMAD_PORT_metrics" }}"#, "9464")
        .replace(r#"{{ env "attr.unique.network.ip-address" }}"#, "10.0.0.5");
    assert!(
        !config.contains("{{"),
        "unrendered template call in:\n{config}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shepard.hcl");
    std::fs::write(&path, &config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shepard"))
        .args(["config", "check", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{config}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The mounted alloc dir is where the agent looks.
    assert!(printed.contains("/opt/nomad/data/alloc"), "{printed}");
    assert!(printed.contains("10.0.0.5:9464"), "{printed}");
}
