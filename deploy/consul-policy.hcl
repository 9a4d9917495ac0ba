# Consul ACL policy for the shepard agent's token.
#
# shepard reads and writes only under its own prefix (default "shepard/"), holds one session
# per agent, and reads the health of the services Nomad registers on its node. Change the key
# prefix here if you change `consul.prefix`.

key_prefix "shepard/" {
  policy = "write"
}

# Sessions are created against the local agent's node.
session_prefix "" {
  policy = "write"
}

# Health of the allocations' services and checks (Nomad registers them as
# `_nomad-task-<alloc_id>-...`); `node` read is needed for /v1/health/node/:node.
node_prefix "" {
  policy = "read"
}

service_prefix "" {
  policy = "read"
}
