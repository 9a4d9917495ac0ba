# Consul ACL policy for the shepard agent's token:
#
#   consul acl policy create -name shepard -rules @deploy/consul-policy.hcl
#   consul acl token create -description "shepard agents" -policy-name shepard
#
# shepard reads and writes only under its own prefix (default "shepard/"), holds one session
# per agent, and reads the health of the services Nomad registers on its node. Change the key
# prefix here if you change `consul.prefix`.

# Trigger keys, rollout records, locks, slots, restart state and agent registrations, written
# by CAS, session acquire/release and KV transactions (/v1/txn, checked per key like any other
# KV write); the garbage collection deletes entries here too. Nothing outside the prefix is read
# or written.
key_prefix "shepard/" {
  policy = "write"
}

# Each agent creates, renews and destroys one session on its own node: locks and slots are
# held with it.
session_prefix "" {
  policy = "write"
}

# /v1/agent/self at start-up: the name of the local Consul agent's node, where Nomad registers
# the allocations' services.
agent_prefix "" {
  policy = "read"
}

# /v1/health/node/:node: the node's checks (a health endpoint also needs node read).
node_prefix "" {
  policy = "read"
}

# The checks of the allocations' services (Nomad registers them as `_nomad-task-<alloc_id>-...`)
# are only visible with read on those services.
service_prefix "" {
  policy = "read"
}
