# Nomad ACL policy for the shepard agent's token.
#
# shepard watches its node's allocations, the jobs they belong to and the node list (for
# cleaning up keys of nodes that are gone); the agent holding the GC lock also lists every job
# and allocation (`namespace=*`) to find the keys of jobs that are gone, so the token must be
# able to read every namespace whose jobs shepard manages. Restarting through the Nomad API
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
