#!/usr/bin/env bash
# The demo: a real Consul, a simulated Nomad cluster, shepard agents, a config change.
set -euo pipefail
echo "make demo: not yet — the agent and nomad-sim are still being built."
