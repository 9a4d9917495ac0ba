#!/usr/bin/env bash
# The demo: a real Consul, a simulated Nomad cluster, shepard agents, a config change.
set -euo pipefail
echo "make demo: not available in this version: the agent does not run rollouts yet."
