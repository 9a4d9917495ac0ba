//! The example configuration `deploy/shepard.hcl`: it parses, sets every option, and resolves
//! to the configuration recorded in the snapshots (tokens redacted).

use shepard::config::catalog::OPTIONS;
use shepard::config::source::Origin;
use shepard::config::{self, EnvMap, OptionFlags};

fn example() -> config::Resolved {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/shepard.hcl");
    let text = std::fs::read_to_string(path).expect("deploy/shepard.hcl");
    config::resolve_str(
        Some(("deploy/shepard.hcl", &text)),
        &EnvMap::new(),
        &OptionFlags::default(),
    )
    .unwrap_or_else(|e| panic!("deploy/shepard.hcl is invalid:\n{e}"))
}

#[test]
fn example_config_resolves_to_the_snapshot() {
    let resolved = example();
    insta::assert_debug_snapshot!("example_config", resolved.config);
    insta::assert_snapshot!("example_config_check", resolved.render());
}

#[test]
fn example_config_sets_every_option() {
    let resolved = example();
    // Inline tokens are shown commented out: the example recommends token files.
    let commented = [
        "consul.token",
        "nomad.token",
        "logs.loki.token",
        "logs.http.token",
    ];
    for spec in OPTIONS {
        let origin = resolved.origin(spec.path);
        if commented.contains(&spec.path) {
            assert_eq!(
                origin,
                Origin::Default,
                "{} should be commented out",
                spec.path
            );
        } else {
            assert!(
                matches!(origin, Origin::File { .. }),
                "deploy/shepard.hcl does not set {}",
                spec.path
            );
        }
    }
}
