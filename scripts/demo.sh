#!/usr/bin/env bash
# The demo: a real Consul, a simulated Nomad cluster, shepard agents, a config change and the
# coordinated rolling restart that follows (examples/demo.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --workspace --bins
exec cargo run --quiet --example demo
