//! Consul service registrations as Nomad's service client builds them: service ID
//! `_nomad-task-<alloc_id>-<task>-<service>-<port_label>` (group services use
//! `group-<group>` for the task part), check IDs `_nomad-check-<hash>`, meta
//! `external-source = nomad`, http/tcp checks against the alloc's host address and port.

use serde_json::{Map, Value, json};

use crate::clock::go_duration;
use crate::consul::Consul;
use crate::ids::stable_hex;
use crate::model::alloc::PortMapping;
use crate::model::job::{Service, ServiceCheck};

/// `MakeAllocServiceID`.
pub fn service_id(alloc_id: &str, workload: &str, service: &Service) -> String {
    format!(
        "_nomad-task-{alloc_id}-{workload}-{}-{}",
        service.name, service.port_label
    )
}

/// `MakeCheckID`: stable per service ID and check definition.
pub fn check_id(service_id: &str, check: &ServiceCheck) -> String {
    let definition = serde_json::to_string(check).unwrap_or_default();
    format!(
        "_nomad-check-{}",
        stable_hex(&format!("{service_id}{definition}"))
    )
}

fn port_of(label: &str, ports: &[PortMapping]) -> Option<u16> {
    ports
        .iter()
        .find(|p| p.label == label)
        .map(|p| p.value)
        .or_else(|| label.parse().ok())
}

/// The `PUT /v1/agent/service/register` body for one service, or an error text when a port
/// label does not resolve.
pub fn registration(
    alloc_id: &str,
    workload: &str,
    service: &Service,
    ports: &[PortMapping],
) -> Result<(String, Value), String> {
    let id = service_id(alloc_id, workload, service);
    let host = "127.0.0.1";
    let port = if service.port_label.is_empty() {
        0
    } else {
        port_of(&service.port_label, ports).ok_or_else(|| {
            format!(
                "invalid port {:?}: port label not found",
                service.port_label
            )
        })?
    };
    let mut meta: Map<String, Value> = service
        .meta
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    meta.insert("external-source".into(), json!("nomad"));
    let mut checks = Vec::new();
    for check in service.checks.iter().flatten() {
        let check_port = if check.port_label.is_empty() {
            port
        } else {
            port_of(&check.port_label, ports).unwrap_or(port)
        };
        let mut c = json!({
            "CheckID": check_id(&id, check),
            "Name": check.name,
            "Interval": go_duration(check.interval),
            "Timeout": go_duration(check.timeout),
        });
        if !check.initial_status.is_empty() {
            c["Status"] = json!(check.initial_status);
        }
        match check.check_type.as_str() {
            "http" => {
                let proto = if check.protocol.is_empty() {
                    "http"
                } else {
                    &check.protocol
                };
                let path = if check.path.starts_with('/') {
                    check.path.clone()
                } else {
                    format!("/{}", check.path)
                };
                c["HTTP"] = json!(format!("{proto}://{host}:{check_port}{path}"));
                if !check.method.is_empty() {
                    c["Method"] = json!(check.method);
                }
                if !check.header.is_null() {
                    c["Header"] = check.header.clone();
                }
                if check.tls_skip_verify {
                    c["TLSSkipVerify"] = json!(true);
                }
            }
            "tcp" => c["TCP"] = json!(format!("{host}:{check_port}")),
            other => {
                return Err(format!(
                    "check type {other:?} not supported by the simulator"
                ));
            }
        }
        if check.success_before_passing > 0 {
            c["SuccessBeforePassing"] = json!(check.success_before_passing);
        }
        if check.failures_before_critical > 0 {
            c["FailuresBeforeCritical"] = json!(check.failures_before_critical);
        }
        checks.push(c);
    }
    let body = json!({
        "ID": id,
        "Name": service.name,
        "Tags": service.tags.clone().unwrap_or_default(),
        "Address": host,
        "Port": port,
        "Meta": meta,
        "EnableTagOverride": service.enable_tag_override,
        "Checks": checks,
    });
    Ok((id, body))
}

/// The services of one workload as registered in Consul. Registrations that fail (Consul
/// restarting, say) are retried every second in the background, as Nomad's service client
/// keeps syncing until Consul has what it should.
pub struct Registrations {
    ids: Vec<String>,
    retry: Option<tokio::task::JoinHandle<()>>,
}

/// How often failed registrations are tried again.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Registers the services of a workload.
pub async fn register_all(
    consul: &Consul,
    alloc_id: &str,
    workload: &str,
    services: &[Service],
    ports: &[PortMapping],
) -> Registrations {
    let mut ids = Vec::new();
    let mut failed = Vec::new();
    for service in services {
        match registration(alloc_id, workload, service, ports) {
            Ok((id, body)) => {
                if let Err(e) = consul.register_service(&body).await {
                    tracing::warn!(service = %id, error = %e, "service registration failed; retrying");
                    failed.push(body);
                }
                ids.push(id);
            }
            Err(e) => tracing::warn!(service = %service.name, error = %e, "bad service"),
        }
    }
    let retry = (!failed.is_empty()).then(|| {
        let consul = consul.clone();
        tokio::spawn(async move {
            while !failed.is_empty() {
                tokio::time::sleep(RETRY_EVERY).await;
                let mut still = Vec::new();
                for body in failed.drain(..) {
                    if consul.register_service(&body).await.is_err() {
                        still.push(body);
                    }
                }
                failed = still;
            }
        })
    });
    Registrations { ids, retry }
}

/// Stops retrying and deregisters every service of the workload.
pub async fn deregister_all(consul: &Consul, registrations: &mut Registrations) {
    if let Some(retry) = registrations.retry.take() {
        retry.abort();
    }
    for id in registrations.ids.drain(..) {
        if let Err(e) = consul.deregister_service(&id).await {
            tracing::warn!(service = %id, error = %e, "service deregistration failed");
        }
    }
}
