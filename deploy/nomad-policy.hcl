# Nomad ACL policy for the shepard agent's token:
#
#   nomad acl policy apply -description "shepard agents" shepard deploy/nomad-policy.hcl
#   nomad acl token create -name shepard -policy shepard
#
# shepard watches its node's allocations and the jobs they belong to, reads the node list (to
# clean up the keys of nodes that are gone) and, with the nomad-api restart method, restarts
# allocations. It reads rendered files from the mounted alloc dir, not through the API.
#
# The agent holding the GC lock also lists every job and allocation (`namespace=*`) to find
# the keys of jobs that are gone: the token must read every namespace whose jobs shepard manages.

# Every namespace whose jobs may opt in; list namespaces instead of "*" to narrow it.
namespace "*" {
  # read-job: the jobs of this node's allocations, their allocations and task states.
  # alloc-lifecycle: POST /v1/client/allocation/:id/restart for tasks with
  # shepard_restart_method = "nomad-api"; drop it when every task uses consul-key.
  capabilities = ["read-job", "alloc-lifecycle"]
}

# /v1/node/:id/allocations for this node, and /v1/nodes for the garbage collection.
node {
  policy = "read"
}

# /v1/agent/self at start-up: which node this agent runs on, and its alloc_dir.
agent {
  policy = "read"
}
