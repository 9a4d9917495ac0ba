# shepard as a Nomad system job: one agent on every client node.
#
# The agent talks to the Nomad agent and the Consul agent of its own node, and reads the files
# rendered into the allocation directories under Nomad's data dir, so it runs with `raw_exec`
# (host filesystem) and joins the host network. Give it tokens with the policies in
# `consul-policy.hcl` and `nomad-policy.hcl`.
job "shepard" {
  datacenters = ["dc1"]
  type        = "system"
  priority    = 90

  group "shepard" {
    network {
      mode = "host"
      port "metrics" {
        static = 9464
      }
    }

    service {
      name     = "shepard"
      port     = "metrics"
      provider = "consul"
      tags     = ["metrics"]

      check {
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "shepard" {
      driver = "raw_exec"

      config {
        command = "/usr/local/bin/shepard"
        args    = ["agent", "--config", "local/shepard.hcl"]
      }

      # Tokens come from Nomad Variables at nomad/jobs/shepard; they never appear in the config.
      template {
        destination = "secrets/tokens.env"
        env         = true
        change_mode = "restart"
        data        = <<EOT
{{ with nomadVar "nomad/jobs/shepard" }}
CONSUL_HTTP_TOKEN={{ .consul_token }}
NOMAD_TOKEN={{ .nomad_token }}
{{ end }}
EOT
      }

      template {
        destination = "local/shepard.hcl"
        change_mode = "restart"
        data        = <<EOT
listen = "{{ env "NOMAD_IP_metrics" }}:{{ env "NOMAD_PORT_metrics" }}"

consul {
  address = "http://{{ env "attr.unique.network.ip-address" }}:8500"
}

nomad {
  address = "http://{{ env "attr.unique.network.ip-address" }}:4646"
}
EOT
      }

      # A shutdown must release slots and destroy the session before the node goes away.
      kill_timeout = "10s"

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
