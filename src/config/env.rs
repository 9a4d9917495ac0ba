//! The environment source: HashiCorp's `CONSUL_*` / `NOMAD_*` variables and shepard's own
//! `SHEPARD_*` ones, read from a map so tests never touch the process environment.

use std::collections::BTreeMap;

use super::catalog::OPTIONS;
use super::source::{Layer, Origin, Raw};
use super::value;

/// Environment variables by name.
pub type EnvMap = BTreeMap<String, String>;

/// Names the configuration file when `--config` is not given.
pub const CONFIG_PATH_ENV: &str = "SHEPARD_CONFIG_PATH";

/// The process environment; variables whose name or value is not UTF-8 are left out.
pub fn process_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The options the environment sets. An empty variable counts as unset, as in HashiCorp's
/// clients.
pub fn layer(env: &EnvMap) -> Layer {
    let mut layer = Layer::default();
    for spec in OPTIONS {
        let Some(text) = env.get(spec.env).filter(|v| !v.is_empty()) else {
            continue;
        };
        let raw = Raw::Text(text.clone());
        let raw = match (spec.env_inverted, value::boolean(&raw)) {
            (true, Ok(b)) => Raw::Text((!b).to_string()),
            // An unparseable value is kept as written, so the error quotes it.
            _ => raw,
        };
        layer.insert(spec.path, raw, Origin::Env(spec.env));
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hashicorp_names_and_inverts_ssl_verify() {
        let env: EnvMap = [
            ("CONSUL_HTTP_ADDR", "https://c:8501"),
            ("CONSUL_HTTP_SSL_VERIFY", "false"),
            ("NOMAD_SKIP_VERIFY", "1"),
            ("NOMAD_REGION", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let layer = layer(&env);
        let get = |p: &str| layer.get(p).map(|s| s.raw.clone());
        assert!(get("consul.address") == Some(Raw::Text("https://c:8501".into())));
        assert!(get("consul.tls.insecure_skip_verify") == Some(Raw::Text("true".into())));
        assert!(get("nomad.tls.insecure_skip_verify") == Some(Raw::Text("1".into())));
        assert!(get("nomad.region").is_none());
        assert_eq!(layer.len(), 3);
    }
}
