# shepard agent configuration: every option, with a production-like value and what it does.
#
#   shepard agent --config /etc/shepard/shepard.hcl      (or SHEPARD_CONFIG_PATH)
#   shepard config check --config /etc/shepard/shepard.hcl
#
# Every option is also a flag and an environment variable (`shepard agent --help` lists them).
# Precedence: flag > environment > this file > default. HashiCorp's own variables are honoured:
# CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN(_FILE), CONSUL_CACERT, CONSUL_CLIENT_CERT/KEY,
# CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL_VERIFY, NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT,
# NOMAD_CLIENT_CERT/KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY, NOMAD_REGION, NOMAD_NAMESPACE.
# Unknown keys are errors. Durations are strings such as "15s", "5m", "24h"; sizes are bytes or
# strings such as "64MiB". Leave an option out (or set it to null) to get its default.

# /metrics, /healthz and /readyz. Port 0 picks a free port (logged at start).
listen = "127.0.0.1:9464"

# A level (error, warn, info, debug, trace) or tracing directives ("info,shepard=debug").
# RUST_LOG, when set, wins over this.
log_level = "info"

# "text" for people, "json" for log pipelines. Logs go to stderr.
log_format = "json"

# Local state: log-shipping checkpoints. Must survive agent restarts.
data_dir = "/var/lib/shepard"

# Every reconcile key is looked at again this often, even without a change: a safety net.
resync_interval = "5m"

# The keys of a node that has been down or gone this long are garbage-collected.
node_cleanup_timeout = "24h"

# Finished rollout records stay this long for `shepard status`.
rollout_history = "24h"

# Task log lines are shipped this often (sooner when a batch fills up).
ship_log_interval = "10s"

# On SIGINT/SIGTERM: time to release restart slots and destroy the session before exiting.
shutdown_timeout = "5s"

consul {
  # The local Consul agent: host:port, http://… or https://… (unix sockets are not supported).
  address = "https://127.0.0.1:8501"

  # ACL token (deploy/acl/consul-policy.hcl). A token file wins over a token given in the same
  # place (file, environment or flags), as in Consul's own client. Prefer the file: it is
  # re-read when clients are built, so a rotated token is picked up.
  # token    = "…"
  token_file = "/secrets/consul.token"

  # Every key shepard reads or writes lives under this prefix (normalised to end with "/").
  # Job templates must use the same prefix in their shepard.tpl trigger.
  prefix = "shepard/"

  # The agent's session: 10s to 24h, renewed every TTL/2. Locks of a crashed agent free up
  # within 1–2 × TTL; a shorter TTL fails over sooner but renews more often, and an agent
  # whose renewals fail for a whole TTL (a long Consul leader election) drops its session.
  session_ttl = "30s"

  # After a session is lost, nobody can take its locks for this long (at most 60s).
  lock_delay = "5s"

  tls {
    # CA that signed the Consul agent's certificate.
    ca_file = "/etc/consul.d/tls/consul-agent-ca.pem"
    # Client certificate and key, for verify_incoming; set both or neither. The agent
    # configuration's names cert_file and key_file work too.
    client_cert = "/etc/consul.d/tls/dc1-client-consul-0.pem"
    client_key  = "/etc/consul.d/tls/dc1-client-consul-0-key.pem"
    # Name the server certificate must carry, when it is not the address's host.
    server_name = "client.dc1.consul"
    # Skip verification: for experiments only. Cannot be combined with ca_file or server_name.
    insecure_skip_verify = false
  }
}

nomad {
  # The local Nomad client agent.
  address = "https://127.0.0.1:4646"

  # ACL token (deploy/acl/nomad-policy.hcl); same rules as consul.token / token_file.
  # token    = "…"
  token_file = "/secrets/nomad.token"

  # Sent with requests; leave out for the agent's own region and the default namespace.
  region    = "global"
  namespace = "default"

  # Where shepard sees Nomad's allocation directories. Leave out to use the client's alloc_dir
  # from /v1/agent/self (correct when shepard runs on the host, or with the host path mounted
  # at the same place).
  alloc_dir = "/opt/nomad/data/alloc"

  tls {
    ca_file              = "/etc/nomad.d/tls/nomad-agent-ca.pem"
    client_cert          = "/etc/nomad.d/tls/global-cli-nomad.pem"
    client_key           = "/etc/nomad.d/tls/global-cli-nomad-key.pem"
    server_name          = "client.global.nomad"
    insecure_skip_verify = false
  }
}

# Per-task knobs, used only when neither the task's meta (shepard_max_parallel, …, task over
# group over job) nor the group's update block sets them.
defaults {
  # Allocations of one task restarted at the same time, cluster-wide.
  max_parallel = 1
  # A restarted allocation must stay healthy this long before the next one restarts.
  min_healthy_time = "10s"
  # Not healthy by then: the rollout becomes "stuck" and stops. Longer than min_healthy_time.
  healthy_deadline = "5m"
  # "consul-key": write the task's trigger key (its shepard.tpl re-renders, Nomad restarts it).
  # "nomad-api": POST /v1/client/allocation/:id/restart (needs alloc-lifecycle).
  restart_method = "consul-key"
}

# Forwarding of managed tasks' logs, tagged with node, datacenter, namespace, job, group, task,
# alloc_id, alloc_index and stream. A sink is on when its address is set; remove the blocks of
# the sinks you do not use.
logs {
  # Task meta keys added as tags too (task over group over job).
  meta_tags = ["team"]
  # Longer lines are split into marked parts.
  max_line_bytes = "16KiB"
  # A batch this large ships without waiting for ship_log_interval.
  max_batch_bytes = "1MiB"
  # Memory all tailers may hold together; reading pauses beyond it (back-pressure).
  memory_limit = "64MiB"

  # JSON lines in a local file, rotated by size.
  file {
    path          = "/var/log/shepard/tasks.jsonl"
    max_file_size = "100MiB"
    max_files     = 5
    # Whole blocks go to disk with O_DIRECT, not through the page cache: less CPU, and the
    # output does not crowd out the tasks' cache. false: buffered writes, for a reader that
    # follows this file closely and would rather find it in memory.
    direct_io     = true
  }

  # RFC 5424 over TCP with octet counting (rsyslog imtcp, syslog-ng network()).
  # tcp://host:port for plain TCP, tls://host:port for TLS.
  syslog {
    address = "tls://logs.service.consul:6514"
    tls {
      ca_file              = "/etc/shepard/tls/logs-ca.pem"
      client_cert          = "/etc/shepard/tls/shepard.pem"
      client_key           = "/etc/shepard/tls/shepard-key.pem"
      server_name          = "logs.service.consul"
      insecure_skip_verify = false
    }
  }

  # Loki's push API.
  loki {
    url = "https://loki.service.consul:3100/loki/api/v1/push"
    # X-Scope-OrgID, for multi-tenant Loki.
    tenant_id = "platform"
    # Bearer token, when a proxy in front of Loki wants one.
    # token = "…"
    # Tags sent as stream labels: keep them low-cardinality (not alloc_id). The other tags go
    # into the line.
    labels = ["node", "namespace", "job", "group", "task", "stream", "team"]
    tls {
      ca_file              = "/etc/shepard/tls/logs-ca.pem"
      client_cert          = "/etc/shepard/tls/shepard.pem"
      client_key           = "/etc/shepard/tls/shepard-key.pem"
      server_name          = "loki.service.consul"
      insecure_skip_verify = false
    }
  }

  # Newline-delimited JSON POSTed to a URL (Vector's http_server, Fluent Bit's http input).
  http {
    url = "https://vector.service.consul:8080/shepard"
    # token = "…"
    tls {
      ca_file              = "/etc/shepard/tls/logs-ca.pem"
      client_cert          = "/etc/shepard/tls/shepard.pem"
      client_key           = "/etc/shepard/tls/shepard-key.pem"
      server_name          = "vector.service.consul"
      insecure_skip_verify = false
    }
  }
}
