# The hello-world greeter, opted in to shepard's coordinated restarts.
#
# Its configuration lives in Consul at `hello-world/config` (YAML, e.g. `name: "Samantha"`).
# Nomad re-renders `local/config.yml` when the key changes but does nothing more
# (`change_mode = "noop"`); shepard then restarts the six allocations two at a time, each pair
# only after the previous one has passed its health check for 2 s.
job "hello-world" {
  datacenters = ["dc1"]
  type        = "service"

  group "greeter" {
    count = 6

    # shepard reads max_parallel, min_healthy_time and healthy_deadline from here unless a
    # `shepard_*` meta key overrides them.
    update {
      max_parallel     = 2
      min_healthy_time = "2s"
      healthy_deadline = "20s"
    }

    network {
      port "http" {}
    }

    service {
      name     = "hello-world-greeter"
      port     = "http"
      provider = "consul"

      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "greet" {
      driver = "raw_exec"

      config {
        command = "greet"
        args    = ["-c", "local/config.yml"]
      }

      # The trigger: shepard writes a new value to this key to restart exactly this allocation.
      template {
        destination = "local/shepard.tpl"
        change_mode = "restart"
        splay       = "0s"
        wait {
          min = "0s"
          max = "0s"
        }
        data = <<EOT
{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_NAMESPACE") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_ID")) "" }}
EOT
      }

      # The configuration: re-rendered by Nomad, applied by shepard's rolling restart.
      template {
        destination = "local/config.yml"
        change_mode = "noop"
        data        = "{{ key \"hello-world/config\" }}\n"
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
