//! The exact text of configuration errors, one snapshot per kind of mistake: each names the
//! option by its dotted path and where its value came from (file position, env var or flag).

use shepard::config::{self, EnvMap, OptionFlags};

/// The error text for `hcl` as file `shepard.hcl`, with `env` and `flags`.
fn error_text(hcl: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> String {
    let env: EnvMap = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let flags = OptionFlags::from_pairs(flags.iter().copied());
    match config::resolve_str(Some(("shepard.hcl", hcl)), &env, &flags) {
        Ok(r) => panic!("accepted:\n{hcl}\nas\n{:#?}", r.config),
        Err(e) => e.to_string(),
    }
}

fn check(name: &str, hcl: &str) {
    check_with(name, hcl, &[], &[]);
}

fn check_with(name: &str, hcl: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) {
    let text = error_text(hcl, env, flags);
    let description = format!("file:\n{hcl}\nenv: {env:?}\nflags: {flags:?}");
    insta::with_settings!({ description => description, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn unknown_option() {
    check("unknown_option", "consul {\n  sesion_ttl = \"15s\"\n}\n");
}

#[test]
fn unknown_option_far_from_any_name() {
    check(
        "unknown_option_listed",
        "consul {\n  tls {\n    colour = \"blue\"\n  }\n}\n",
    );
}

#[test]
fn unknown_block() {
    check(
        "unknown_block",
        "consol {\n  address = \"127.0.0.1:8500\"\n}\n",
    );
}

#[test]
fn block_written_as_attribute_and_option_as_block() {
    check(
        "block_option_mixup",
        "consul = \"127.0.0.1:8500\"\nnomad {\n  address {\n  }\n}\n",
    );
}

#[test]
fn wrong_type_number_as_string() {
    check(
        "wrong_type_count",
        "defaults {\n  max_parallel = \"2\"\n}\n",
    );
}

#[test]
fn wrong_type_bool_as_string() {
    check(
        "wrong_type_bool",
        "nomad {\n  tls {\n    insecure_skip_verify = \"yes\"\n  }\n}\n",
    );
}

#[test]
fn wrong_type_duration_as_number() {
    check("wrong_type_duration", "resync_interval = 300\n");
}

#[test]
fn bad_duration() {
    check("bad_duration", "consul {\n  session_ttl = \"15\"\n}\n");
}

#[test]
fn bad_address_unix_socket() {
    check(
        "bad_address_unix",
        "consul {\n  address = \"unix:///var/run/consul.sock\"\n}\n",
    );
}

#[test]
fn bad_address_scheme_and_missing_port() {
    check(
        "bad_address_scheme",
        "consul {\n  address = \"ftp://consul:8500\"\n}\nnomad {\n  address = \"nomad.service.consul\"\n}\nlisten = \"localhost:9464\"\n",
    );
}

#[test]
fn tls_skip_verify_with_ca_file() {
    check(
        "tls_conflict_skip_verify",
        "consul {\n  address = \"https://127.0.0.1:8501\"\n  tls {\n    ca_file = \"/etc/consul.d/ca.pem\"\n    insecure_skip_verify = true\n  }\n}\n",
    );
}

#[test]
fn tls_client_cert_without_key() {
    check(
        "tls_conflict_cert_without_key",
        "nomad {\n  address = \"https://127.0.0.1:4646\"\n  tls {\n    client_cert = \"/etc/nomad.d/cli.pem\"\n  }\n}\n",
    );
}

#[test]
fn tls_settings_on_a_plain_http_address() {
    check(
        "tls_conflict_plain_address",
        "consul {\n  address = \"http://127.0.0.1:8500\"\n  tls {\n    ca_file = \"/etc/consul.d/ca.pem\"\n  }\n}\n",
    );
}

#[test]
fn empty_prefix() {
    check("empty_prefix", "consul {\n  prefix = \"\"\n}\n");
}

#[test]
fn root_prefix() {
    check("root_prefix", "consul {\n  prefix = \"/\"\n}\n");
}

#[test]
fn dot_segment_prefix() {
    check(
        "dot_segment_prefix",
        "consul {\n  prefix = \"shepard/../x\"\n}\n",
    );
}

#[test]
fn session_ttl_out_of_consul_range() {
    check(
        "session_ttl_below_min",
        "consul {\n  session_ttl = \"5s\"\n}\n",
    );
}

#[test]
fn lock_delay_above_consul_max() {
    check(
        "lock_delay_above_max",
        "consul {\n  lock_delay = \"2m\"\n}\n",
    );
}

#[test]
fn bad_log_format() {
    check("bad_log_format", "log_format = \"yaml\"\n");
}

#[test]
fn bad_log_level() {
    check("bad_log_level", "log_level = \"shepard=loud\"\n");
}

#[test]
fn bad_restart_method() {
    check(
        "bad_restart_method",
        "defaults {\n  restart_method = \"signal\"\n}\n",
    );
}

#[test]
fn healthy_deadline_not_after_min_healthy_time() {
    check(
        "min_healthy_time_too_long",
        "defaults {\n  min_healthy_time = \"10m\"\n}\n",
    );
    check(
        "healthy_deadline_too_short",
        "defaults {\n  min_healthy_time = \"10s\"\n  healthy_deadline = \"10s\"\n}\n",
    );
}

#[test]
fn option_set_twice() {
    check(
        "set_twice",
        "consul {\n  prefix = \"a/\"\n}\nconsul {\n  prefix = \"b/\"\n}\n",
    );
}

#[test]
fn expressions_are_not_values() {
    check(
        "not_a_literal",
        "consul {\n  prefix = \"${var.prefix}\"\n}\n",
    );
}

#[test]
fn syntax_error() {
    check(
        "syntax_error",
        "consul {\n  address = \"127.0.0.1:8500\n}\n",
    );
}

#[test]
fn sink_options_without_the_sink() {
    check(
        "sink_option_without_sink",
        "logs {\n  loki {\n    tenant_id = \"platform\"\n  }\n}\n",
    );
}

#[test]
fn loki_label_that_is_no_tag() {
    check(
        "loki_unknown_label",
        "logs {\n  loki {\n    url = \"http://loki:3100/loki/api/v1/push\"\n    labels = [\"job\", \"team\"]\n  }\n}\n",
    );
}

/// Key and type problems are all reported in one run (range and cross-option rules need
/// well-typed values, so they come once these are fixed).
#[test]
fn key_and_type_problems_are_reported_together() {
    check(
        "several_problems",
        "listen = \"127.0.0.1:99999\"\nconsul {\n  sesion_ttl = \"15s\"\n  lock_delay = 5\n}\ndefaults {\n  max_parallel = 0\n}\n",
    );
}

#[test]
fn environment_values_are_named_by_variable() {
    check_with(
        "env_errors",
        "",
        &[
            ("CONSUL_HTTP_ADDR", "unix:///var/run/consul.sock"),
            ("CONSUL_HTTP_SSL_VERIFY", "maybe"),
            ("SHEPARD_DEFAULT_MAX_PARALLEL", "two"),
        ],
        &[],
    );
}

#[test]
fn flag_values_are_named_by_flag() {
    check_with(
        "flag_errors",
        "",
        &[],
        &[
            ("consul.session_ttl", "15 parsecs"),
            ("logs.max_batch_bytes", "1 MB?"),
        ],
    );
}
