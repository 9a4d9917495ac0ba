# shepard as a Nomad system job: one agent on every client node.
#
#   nomad var put nomad/jobs/shepard consul_token=<token> nomad_token=<token>
#   nomad job run -var image=<your shepard image> deploy/shepard.nomad.hcl
#
# The agent talks to the Consul and Nomad agents of its own node and reads the files that Nomad
# renders into the allocation directories, which are mounted read-only at the same path as on
# the host (so the paths Nomad reports are valid inside the container). Give it tokens with the
# policies in `consul-policy.hcl` and `nomad-policy.hcl`.
#
# The Docker driver needs `volumes { enabled = true }` in the clients' plugin configuration for
# the two bind mounts below.

variable "image" {
  type        = string
  description = "The shepard container image (the `shepard` binary as its entrypoint)."
}

variable "nomad_data_dir" {
  type        = string
  default     = "/opt/nomad/data"
  description = "The clients' Nomad data_dir; the allocation directories are under its alloc/."
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "shepard" {
  datacenters = var.datacenters
  type        = "system"
  # Ahead of the jobs it manages when a node is short of resources.
  priority = 90

  # A new shepard version rolls over the nodes one at a time.
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "2m"
  }

  group "shepard" {
    network {
      # The host's network: Consul and Nomad listen there, and Prometheus scrapes the node.
      mode = "host"
      port "metrics" {
        static = 9464
      }
    }

    service {
      name     = "shepard"
      port     = "metrics"
      provider = "consul"
      # Prometheus's consul_sd_configs keeps the services tagged "prometheus" (see
      # dashboards/README.md) and reads the path from the meta.
      tags = ["prometheus"]
      meta {
        metrics_path = "/metrics"
      }

      # Liveness only: /readyz also turns red while Consul is unreachable, and a Consul check
      # that depends on Consul tells nobody anything.
      check {
        name     = "shepard-healthz"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "shepard" {
      driver = "docker"

      config {
        image        = var.image
        network_mode = "host"
        args         = ["agent", "--config", "/local/shepard.hcl"]

        # Rendered configuration files and task logs of every allocation on this node, read-only.
        # Only alloc/ is mounted: the client's own state in the data dir stays out of reach.
        mount {
          type     = "bind"
          source   = "${var.nomad_data_dir}/alloc"
          target   = "${var.nomad_data_dir}/alloc"
          readonly = true
        }

        # Log-shipping checkpoints; they must outlive the allocation.
        mount {
          type     = "bind"
          source   = "/var/lib/shepard"
          target   = "/var/lib/shepard"
          readonly = false
        }
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

      # The agent's configuration (deploy/shepard.hcl documents every option). Use https://
      # addresses and a `tls` block where the agents serve TLS.
      template {
        destination = "local/shepard.hcl"
        change_mode = "restart"
        data        = <<EOT
listen     = "{{ env "NOMAD_IP_metrics" }}:{{ env "NOMAD_PORT_metrics" }}"
log_format = "json"
data_dir   = "/var/lib/shepard"

consul {
  address = "http://{{ env "attr.unique.network.ip-address" }}:8500"
}

nomad {
  address   = "http://{{ env "attr.unique.network.ip-address" }}:4646"
  alloc_dir = "${var.nomad_data_dir}/alloc"
}
EOT
      }

      # A shutdown releases slots and destroys the session (shutdown_timeout, 5 s) before the
      # node goes away.
      kill_timeout = "10s"

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
