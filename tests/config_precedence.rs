//! Precedence of the configuration sources (flag > environment > file > default), the ACL
//! token ordering of Consul's own client, and that no token ever shows in `Debug` or in the
//! `config check` output. Environments are maps passed in: no test touches the process
//! environment, so tests cannot race.

use std::path::PathBuf;
use std::time::Duration;

use shepard::config::source::Origin;
use shepard::config::{self, AclToken, EnvMap, OptionFlags, Resolved};

fn env(pairs: &[(&str, &str)]) -> EnvMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn resolve(file: &str, env_pairs: &[(&str, &str)], flags: &[(&str, &str)]) -> Resolved {
    let file = (!file.is_empty()).then_some(("shepard.hcl", file));
    config::resolve_str(
        file,
        &env(env_pairs),
        &OptionFlags::from_pairs(flags.iter().copied()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

const FILE: &str = r#"
consul {
  address     = "http://file:8500"
  session_ttl = "20s"
  lock_delay  = "7s"
}
"#;

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let env_pairs = [
        ("CONSUL_HTTP_ADDR", "env:8500"),
        ("SHEPARD_CONSUL_SESSION_TTL", "30s"),
    ];
    let flags = [("consul.address", "http://flag:8500")];

    let r = resolve(FILE, &env_pairs, &flags);
    let c = &r.config.consul;
    assert_eq!(c.address.to_string(), "http://flag:8500/");
    assert_eq!(r.origin("consul.address"), Origin::Flag("consul-addr"));
    assert_eq!(c.session_ttl, Duration::from_secs(30));
    assert_eq!(
        r.origin("consul.session_ttl"),
        Origin::Env("SHEPARD_CONSUL_SESSION_TTL")
    );
    assert_eq!(c.lock_delay, Duration::from_secs(7));
    assert_eq!(
        r.origin("consul.lock_delay").to_string(),
        "shepard.hcl:5:17"
    );
    assert_eq!(c.prefix, "shepard/");
    assert_eq!(r.origin("consul.prefix"), Origin::Default);

    // Take away one source at a time: the next one shows through.
    let r = resolve(FILE, &env_pairs, &[]);
    assert_eq!(r.config.consul.address.to_string(), "http://env:8500/");
    let r = resolve(FILE, &[], &[]);
    assert_eq!(r.config.consul.address.to_string(), "http://file:8500/");
    assert_eq!(r.config.consul.session_ttl, Duration::from_secs(20));
    let r = resolve("", &[], &[]);
    assert_eq!(
        r.config.consul.address.to_string(),
        "http://127.0.0.1:8500/"
    );
    assert_eq!(r.config.consul.session_ttl, Duration::from_secs(30));
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let r = resolve(FILE, &[("CONSUL_HTTP_ADDR", ""), ("NOMAD_REGION", "")], &[]);
    assert_eq!(r.config.consul.address.to_string(), "http://file:8500/");
    assert_eq!(r.config.nomad.region, None);
}

#[test]
fn hashicorp_tls_variables() {
    let r = resolve(
        "",
        &[
            ("CONSUL_HTTP_ADDR", "https://127.0.0.1:8501"),
            ("CONSUL_CACERT", "/ca.pem"),
            ("CONSUL_CLIENT_CERT", "/c.pem"),
            ("CONSUL_CLIENT_KEY", "/k.pem"),
            ("CONSUL_TLS_SERVER_NAME", "consul.local"),
            ("NOMAD_ADDR", "https://127.0.0.1:4646"),
            ("NOMAD_SKIP_VERIFY", "true"),
            ("NOMAD_REGION", "eu"),
            ("NOMAD_NAMESPACE", "apps"),
        ],
        &[],
    );
    let t = &r.config.consul.tls;
    assert_eq!(t.ca_file, Some(PathBuf::from("/ca.pem")));
    assert_eq!(t.client_cert, Some(PathBuf::from("/c.pem")));
    assert_eq!(t.client_key, Some(PathBuf::from("/k.pem")));
    assert_eq!(t.server_name.as_deref(), Some("consul.local"));
    assert!(!t.insecure_skip_verify);
    assert!(r.config.nomad.tls.insecure_skip_verify);
    assert_eq!(r.config.nomad.region.as_deref(), Some("eu"));
    assert_eq!(r.config.nomad.namespace.as_deref(), Some("apps"));

    // CONSUL_HTTP_SSL_VERIFY says the opposite of insecure_skip_verify.
    let r = resolve("", &[("CONSUL_HTTP_SSL_VERIFY", "false")], &[]);
    assert!(r.config.consul.tls.insecure_skip_verify);
    let file = "consul {\n  tls {\n    insecure_skip_verify = true\n  }\n}\n";
    let r = resolve(file, &[("CONSUL_HTTP_SSL_VERIFY", "true")], &[]);
    assert!(!r.config.consul.tls.insecure_skip_verify, "env beats file");
    // A bare boolean flag means true, and `=false` overrides.
    let r = resolve(file, &[], &[("consul.tls.insecure_skip_verify", "false")]);
    assert!(!r.config.consul.tls.insecure_skip_verify);
}

#[test]
fn prefix_is_normalised() {
    let r = resolve("consul {\n  prefix = \"/team/shepard\"\n}\n", &[], &[]);
    assert_eq!(r.config.consul.prefix, "team/shepard/");
}

fn token(file: &str, env_pairs: &[(&str, &str)], flags: &[(&str, &str)]) -> AclToken {
    resolve(file, env_pairs, flags).config.consul.token
}

fn inline(s: &str) -> AclToken {
    AclToken::Inline(shepard::secret::Secret::new(s))
}

fn file(p: &str) -> AclToken {
    AclToken::File(PathBuf::from(p))
}

/// Consul's `api.NewClient` orders: -token-file flag, -token flag, CONSUL_HTTP_TOKEN_FILE,
/// CONSUL_HTTP_TOKEN; shepard's file comes last, token_file before token.
#[test]
fn token_sources_follow_consuls_client() {
    let f_token = "consul {\n  token = \"file-token\"\n}\n";
    let f_both = "consul {\n  token = \"file-token\"\n  token_file = \"/file.tok\"\n}\n";
    let e_token = ("CONSUL_HTTP_TOKEN", "env-token");
    let e_file = ("CONSUL_HTTP_TOKEN_FILE", "/env.tok");
    let g_token = ("consul.token", "flag-token");
    let g_file = ("consul.token_file", "/flag.tok");

    assert_eq!(token("", &[], &[]), AclToken::None);
    assert_eq!(token(f_token, &[], &[]), inline("file-token"));
    assert_eq!(token(f_both, &[], &[]), file("/file.tok"));
    assert_eq!(token(f_both, &[e_token], &[]), inline("env-token"));
    assert_eq!(token(f_token, &[e_file], &[]), file("/env.tok"));
    assert_eq!(token("", &[e_token, e_file], &[]), file("/env.tok"));
    assert_eq!(
        token("", &[e_token, e_file], &[g_token]),
        inline("flag-token")
    );
    assert_eq!(token("", &[e_token], &[g_file]), file("/flag.tok"));
    assert_eq!(
        token(f_both, &[e_file], &[g_token, g_file]),
        file("/flag.tok")
    );

    // config check shows which one is not used, and why.
    let r = resolve(f_both, &[e_token], &[]);
    let rendered = r.render();
    assert!(
        rendered.contains("not used: consul.token takes precedence"),
        "{rendered}"
    );
}

#[test]
fn token_files_are_read_trimmed_and_must_not_be_empty() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("consul.token");
    std::fs::write(&good, "  s3cr3t-from-file\n").unwrap();
    let empty = dir.path().join("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    let good = good.to_str().unwrap();
    let empty = empty.to_str().unwrap();

    let r = resolve("", &[("CONSUL_HTTP_TOKEN_FILE", good)], &[]);
    let secret = r.config.consul.token.load().unwrap().unwrap();
    assert_eq!(secret.expose(), "s3cr3t-from-file");
    r.check_token_files().unwrap();

    let r = resolve("", &[("CONSUL_HTTP_TOKEN_FILE", empty)], &[]);
    let err = r.check_token_files().unwrap_err().to_string();
    assert_eq!(
        err,
        format!("env CONSUL_HTTP_TOKEN_FILE: consul.token_file: token file {empty} is empty")
    );

    let r = resolve("", &[], &[("nomad.token_file", "/nonexistent/nomad.token")]);
    let err = r.check_token_files().unwrap_err().to_string();
    assert!(
        err.starts_with("flag --nomad-token-file: nomad.token_file: cannot read token file /nonexistent/nomad.token:"),
        "{err}"
    );
}

#[test]
fn config_path_flag_beats_shepard_config_path() {
    let e = env(&[("SHEPARD_CONFIG_PATH", "/from/env.hcl")]);
    let from_flag = config::config_path(Some("/from/flag.hcl".as_ref()), &e);
    assert_eq!(from_flag, Some(PathBuf::from("/from/flag.hcl")));
    assert_eq!(
        config::config_path(None, &e),
        Some(PathBuf::from("/from/env.hcl"))
    );
    assert_eq!(
        config::config_path(None, &env(&[("SHEPARD_CONFIG_PATH", "")])),
        None
    );
}

#[test]
fn tokens_never_appear_in_debug_or_check_output() {
    const SECRETS: [&str; 4] = [
        "c0nsul-f1le-t0ken",
        "n0mad-env-t0ken",
        "l0ki-flag-t0ken",
        "http-f1le-t0ken",
    ];
    let file = format!(
        "consul {{\n  token = \"{}\"\n}}\nlogs {{\n  http {{\n    url = \"http://vector:8080\"\n    token = \"{}\"\n  }}\n  loki {{\n    url = \"http://loki:3100/loki/api/v1/push\"\n  }}\n}}\n",
        SECRETS[0], SECRETS[3]
    );
    let flags = [("logs.loki.token", SECRETS[2])];
    let envs = [("NOMAD_TOKEN", SECRETS[1])];
    let r = resolve(&file, &envs, &flags);
    assert_eq!(
        r.config.consul.token.load().unwrap().unwrap().expose(),
        SECRETS[0]
    );

    let outputs = [
        format!("{:?}", r.config),
        format!("{:#?}", r.config),
        format!("{r:?}"),
        r.render(),
        format!("{:?}", OptionFlags::from_pairs(flags)),
    ];
    for output in &outputs {
        for secret in SECRETS {
            assert!(!output.contains(secret), "{secret} leaked into:\n{output}");
        }
    }
    assert!(outputs[3].contains("token = \"<redacted>\""));
}
