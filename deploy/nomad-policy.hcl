# Nomad ACL policy for the shepard agent's token.
#
# shepard watches its node's allocations, the jobs they belong to and the node list (for
# cleaning up keys of nodes that are gone). Restarting through the Nomad API
# (`shepard_restart_method = "nomad-api"`) needs `alloc-lifecycle`; reading a task's rendered
# files through the client filesystem API needs `read-fs`.

namespace "*" {
  capabilities = ["read-job", "alloc-lifecycle", "read-fs"]
}

node {
  policy = "read"
}

agent {
  policy = "read"
}
