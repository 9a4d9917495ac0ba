//! The session endpoints (`/v1/session/...`): create, renew, info, destroy, with the field
//! names of Consul 1.8.7 (`NodeChecks`/`ServiceChecks`; `LockDelay` answered in
//! nanoseconds, `TTL` as a Go duration string — `refdata/consul/session-info*.http`).

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::consul::client::{Call, ConsulClient, segment};
use crate::consul::error::ConsulError;

/// What happens to the locks of a session when it is invalidated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionBehavior {
    /// The keys stay, unlocked.
    #[default]
    Release,
    /// The keys are deleted.
    Delete,
}

/// A service check a session is bound to (`ServiceChecks` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCheckRef {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(
        rename = "Namespace",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
}

/// Parameters of `PUT /v1/session/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRequest {
    pub name: String,
    /// The session is invalidated when not renewed for this long (Consul: 10 s..24 h; it
    /// may take up to twice as long in practice). `None`: no TTL.
    pub ttl: Option<Duration>,
    /// After an invalidation nobody can acquire the session's locks for this long.
    /// `None` leaves Consul's default (15 s).
    pub lock_delay: Option<Duration>,
    pub behavior: SessionBehavior,
    /// The node to create the session on; `None`: the agent's node.
    pub node: Option<String>,
    /// Node checks the session depends on. `None` keeps Consul's default (`serfHealth`);
    /// `Some(vec![])` binds to no node check.
    pub node_checks: Option<Vec<String>>,
    /// Service checks the session depends on.
    pub service_checks: Vec<ServiceCheckRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireCreate<'a> {
    name: &'a str,
    #[serde(rename = "TTL", skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_delay: Option<String>,
    behavior: SessionBehavior,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_checks: Option<&'a [String]>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    service_checks: &'a [ServiceCheckRef],
}

/// A session as Consul reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub name: String,
    pub node: String,
    pub lock_delay: Duration,
    pub behavior: SessionBehavior,
    /// `None` for a session without TTL.
    pub ttl: Option<Duration>,
    pub node_checks: Vec<String>,
    pub service_checks: Vec<ServiceCheckRef>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSession {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    node: String,
    /// Nanoseconds.
    #[serde(default)]
    lock_delay: u64,
    #[serde(default)]
    behavior: SessionBehavior,
    #[serde(rename = "TTL", default)]
    ttl: String,
    #[serde(default)]
    node_checks: Option<Vec<String>>,
    #[serde(default)]
    service_checks: Option<Vec<ServiceCheckRef>>,
    #[serde(default)]
    create_index: u64,
    #[serde(default)]
    modify_index: u64,
}

impl WireSession {
    fn into_info(self) -> Result<SessionInfo, String> {
        let ttl = if self.ttl.is_empty() {
            None
        } else {
            Some(
                parse_go_duration(&self.ttl)
                    .ok_or_else(|| format!("invalid TTL {:?}", self.ttl))?,
            )
        };
        Ok(SessionInfo {
            id: self.id,
            name: self.name,
            node: self.node,
            lock_delay: Duration::from_nanos(self.lock_delay),
            behavior: self.behavior,
            ttl,
            node_checks: self.node_checks.unwrap_or_default(),
            service_checks: self.service_checks.unwrap_or_default(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        })
    }
}

#[derive(Deserialize)]
struct Created {
    #[serde(rename = "ID")]
    id: String,
}

impl ConsulClient {
    /// Creates a session and returns its ID.
    pub async fn session_create(&self, request: &SessionRequest) -> Result<String, ConsulError> {
        let wire = WireCreate {
            name: &request.name,
            ttl: request.ttl.map(go_duration),
            lock_delay: request.lock_delay.map(go_duration),
            behavior: request.behavior,
            node: request.node.as_deref(),
            node_checks: request.node_checks.as_deref(),
            service_checks: &request.service_checks,
        };
        let body = serde_json::to_vec(&wire).map_err(|e| ConsulError::Config(e.to_string()))?;
        let call = Call::new("session_create", Method::PUT, "/v1/session/create".into()).body(body);
        let reply = self.send_ok(call).await?;
        let created: Created = reply.json()?;
        if created.id.is_empty() {
            return Err(reply.decode_error("empty session ID".into()));
        }
        Ok(created.id)
    }

    /// Renews the session's TTL and returns the session as Consul now reports it; its
    /// `ttl` may be longer than requested (the server raises it under load) and is the
    /// one to renew by. An unknown or expired session is [`ConsulError::InvalidSession`].
    pub async fn session_renew(&self, id: &str) -> Result<SessionInfo, ConsulError> {
        let path = format!("/v1/session/renew/{}", segment(id));
        let reply = self
            .send_ok(Call::new("session_renew", Method::PUT, path).session(id))
            .await?;
        let sessions = decode_sessions(&reply)?;
        sessions
            .into_iter()
            .next()
            .ok_or_else(|| ConsulError::InvalidSession {
                op: "session_renew",
                session: id.to_string(),
                message: "renew answered an empty list".into(),
            })
    }

    /// The session, or `None` when it does not exist (never did, destroyed or expired).
    pub async fn session_info(&self, id: &str) -> Result<Option<SessionInfo>, ConsulError> {
        let path = format!("/v1/session/info/{}", segment(id));
        let reply = self
            .send_ok(Call::new("session_info", Method::GET, path))
            .await?;
        Ok(decode_sessions(&reply)?.into_iter().next())
    }

    /// Destroys the session (idempotent): its locks are released or deleted per its
    /// behavior, and its lock-delay starts.
    pub async fn session_destroy(&self, id: &str) -> Result<(), ConsulError> {
        let path = format!("/v1/session/destroy/{}", segment(id));
        let reply = self
            .send_ok(Call::new("session_destroy", Method::PUT, path))
            .await?;
        if reply.boolean()? {
            Ok(())
        } else {
            Err(reply.decode_error("session destroy answered false".into()))
        }
    }
}

fn decode_sessions(reply: &crate::consul::reply::Reply) -> Result<Vec<SessionInfo>, ConsulError> {
    // `null` is what an empty Go slice can encode to; treat it like `[]`.
    let wire: Option<Vec<WireSession>> = reply.json()?;
    wire.unwrap_or_default()
        .into_iter()
        .map(|s| s.into_info().map_err(|reason| reply.decode_error(reason)))
        .collect()
}

/// A duration as Go's `time.ParseDuration` reads it, in whole milliseconds.
fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Parses Go's `time.Duration.String()` form (`"15s"`, `"1m30s"`, `"1.5s"`, `"250ms"`).
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut any = false;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
        any = true;
    }
    any.then(|| Duration::from_nanos(total.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_go_duration("15000ms"), Some(Duration::from_secs(15)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("1h0m0s"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration("10"), None);
    }

    #[test]
    fn session_info_of_1_8_7_decodes() {
        let body = r#"[{"ID":"ca315663-c3ce-dabd-459f-6d194fb46596","Name":"shepard-web-1",
            "Node":"vm","LockDelay":1000000000,"Behavior":"release","TTL":"",
            "NodeChecks":["serfHealth"],"ServiceChecks":[{"ID":"web-1-ttl","Namespace":""}],
            "CreateIndex":60,"ModifyIndex":60}]"#;
        let wire: Vec<WireSession> = serde_json::from_str(body).unwrap();
        let info = wire.into_iter().next().unwrap().into_info().unwrap();
        assert_eq!(info.lock_delay, Duration::from_secs(1));
        assert_eq!(info.ttl, None);
        assert_eq!(info.node_checks, vec!["serfHealth".to_string()]);
        assert_eq!(info.service_checks[0].id, "web-1-ttl");
    }

    #[test]
    fn create_body_uses_1_8_field_names() {
        let checks = vec!["serfHealth".to_string()];
        let service_checks = vec![ServiceCheckRef {
            id: "web-1-ttl".into(),
            namespace: String::new(),
        }];
        let wire = WireCreate {
            name: "shepard-vm",
            ttl: Some(go_duration(Duration::from_secs(15))),
            lock_delay: Some(go_duration(Duration::from_secs(5))),
            behavior: SessionBehavior::Release,
            node: None,
            node_checks: Some(&checks),
            service_checks: &service_checks,
        };
        assert_eq!(
            serde_json::to_string(&wire).unwrap(),
            r#"{"Name":"shepard-vm","TTL":"15000ms","LockDelay":"5000ms","Behavior":"release","NodeChecks":["serfHealth"],"ServiceChecks":[{"ID":"web-1-ttl"}]}"#
        );
    }
}
