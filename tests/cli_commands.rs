//! The built `shepard` binary: `version`, `agent --help` documenting every option, and
//! `config check` on good and bad files. Each run gets a cleared environment, so variables of
//! the machine running the tests cannot change the outcome.

use std::path::Path;
use std::process::{Command, Output};

use shepard::config::catalog::{Kind, OPTIONS};

fn shepard(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shepard"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run shepard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn here() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn version_prints_name_and_version() {
    let expected = format!("shepard {}\n", env!("CARGO_PKG_VERSION"));
    for args in [&["version"][..], &["--version"][..]] {
        let out = shepard(args, here(), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), expected);
    }
}

#[test]
fn agent_help_documents_every_option_with_env_and_default() {
    let out = shepard(&["agent", "--help"], here(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Help is wrapped to the terminal width: compare with whitespace runs collapsed.
    let help = stdout(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(help.contains("--config <PATH>"), "{help}");
    assert!(help.contains("SHEPARD_CONFIG_PATH"), "{help}");
    for spec in OPTIONS {
        let flag = match spec.kind {
            Kind::Bool => format!("--{}[=<BOOL>]", spec.flag),
            kind => format!("--{} <{}>", spec.flag, kind.value_name()),
        };
        assert!(help.contains(&flag), "--help lacks {flag}");
        assert!(
            help.contains(spec.env),
            "--help lacks {} ({})",
            spec.env,
            spec.path
        );
        if let Some(default) = spec.default.filter(|d| !d.is_empty()) {
            let shown = format!("[default: {default}]");
            assert!(
                help.contains(&shown),
                "--help lacks {shown} for {}",
                spec.path
            );
        }
        let first_words: String = spec
            .help
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.contains(&first_words),
            "--help lacks the help of {}",
            spec.path
        );
    }
}

#[test]
fn config_check_prints_the_resolved_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("consul.token"), "abcd-very-secret\n").unwrap();
    std::fs::write(
        dir.path().join("good.hcl"),
        "consul {\n  token_file = \"consul.token\"\n  session_ttl = \"30s\"\n}\nnomad {\n  token = \"n0mad-secret\"\n}\n",
    )
    .unwrap();
    let out = shepard(
        &[
            "config",
            "check",
            "--config",
            "good.hcl",
            "--consul-prefix",
            "team/",
        ],
        dir.path(),
        &[("NOMAD_ADDR", "127.0.0.1:4647")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "session_ttl = \"30s\"                 # good.hcl:3:17",
        "prefix = \"team/\"                    # flag --consul-prefix",
        "address = \"http://127.0.0.1:4647/\"  # env NOMAD_ADDR",
        "token = \"<redacted>\"                # good.hcl:6:11",
        "listen = \"127.0.0.1:9464\"      # default",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("n0mad-secret") && !text.contains("abcd-very-secret"));
    assert_eq!(stderr(&out), "");

    // SHEPARD_CONFIG_PATH names the file when --config is absent.
    let out = shepard(
        &["config", "check"],
        dir.path(),
        &[("SHEPARD_CONFIG_PATH", "good.hcl")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("# good.hcl:3:17"));
}

#[test]
fn config_check_rejects_a_bad_file_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.hcl"),
        "consul {\n  sesion_ttl = \"15s\"\n  address = \"unix:///run/consul.sock\"\n}\n",
    )
    .unwrap();
    let out = shepard(&["config", "check", "-c", "bad.hcl"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: invalid configuration\n  \
         bad.hcl:2:3: consul.sesion_ttl: unknown option; did you mean `session_ttl`?\n  \
         bad.hcl:3:13: consul.address: unix sockets are not supported (\"unix:///run/consul.sock\"); \
         give the agent's HTTP address, such as http://127.0.0.1:8500\n"
    );
}

#[test]
fn config_check_reports_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = shepard(
        &["config", "check", "--config", "nope.hcl"],
        dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: cannot read configuration file nope.hcl: "),
        "{}",
        stderr(&out)
    );

    let out = shepard(
        &["config", "check"],
        dir.path(),
        &[("CONSUL_HTTP_TOKEN_FILE", "missing.token")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "error: invalid configuration\n  env CONSUL_HTTP_TOKEN_FILE: consul.token_file: cannot read token file missing.token:"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_flag_values_name_the_flag() {
    let out = shepard(
        &[
            "config",
            "check",
            "--consul-session-ttl",
            "5s",
            "--log-format=xml",
        ],
        here(),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: invalid configuration\n  \
         flag --log-format: log_format: invalid value \"xml\": expected one of text, json\n"
    );
}
