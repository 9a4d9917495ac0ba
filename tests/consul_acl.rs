//! ACL tokens against a real Consul dev agent with `default_policy = "deny"`: a token for
//! `shepard/` works there and is denied elsewhere, an unknown token is told apart, and no
//! token ever reaches a log line.

use std::time::Duration;

use serde_json::json;
use shepard::api_metrics::ApiMetrics;
use shepard::consul::{Consistency, ConsulClient, ConsulError, SessionRequest, TxnOp};
use shepard::secret::Secret;
use shepard::tls::TlsConfig;
use shepard_testkit::{ConsulDev, ConsulDevOptions, LogCapture};

const UNKNOWN_TOKEN: &str = "00000000-0000-4000-8000-0000000000ab";

fn client(consul: &ConsulDev, token: &str) -> ConsulClient {
    ConsulClient::new(
        &consul.http_addr(),
        Some(Secret::new(token)),
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap()
}

/// Creates the `shepard` policy and a token for it with the master token; returns the
/// token's SecretID.
async fn shepard_token(consul: &ConsulDev, master: &str) -> String {
    let http = reqwest::Client::new();
    let rules = "key_prefix \"shepard/\" { policy = \"write\" }\n\
                 session_prefix \"\" { policy = \"write\" }\n";
    let policy = http
        .put(format!("{}/v1/acl/policy", consul.http_addr()))
        .header("X-Consul-Token", master)
        .json(&json!({"Name": "shepard", "Rules": rules}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 200, "{}", policy.text().await.unwrap());
    let token = http
        .put(format!("{}/v1/acl/token", consul.http_addr()))
        .header("X-Consul-Token", master)
        .json(&json!({"Description": "shepard test", "Policies": [{"Name": "shepard"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let body: serde_json::Value = token.json().await.unwrap();
    body["SecretID"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn a_prefix_token_works_there_and_is_denied_elsewhere_and_never_logged() {
    let consul = ConsulDev::start_with(ConsulDevOptions {
        acl_default_deny: true,
        ..Default::default()
    });
    let master = consul.master_token().unwrap().to_string();
    let token = shepard_token(&consul, &master).await;

    // From here on every event of this thread, at every level, is captured.
    let (logs, _guard) = LogCapture::install();
    let shepard = client(&consul, &token);
    let admin = client(&consul, &master);
    let stranger = client(&consul, UNKNOWN_TOKEN);

    // Allowed: KV under the prefix and sessions.
    shepard.kv_put("shepard/acl/key", b"v", 3).await.unwrap();
    let pair = shepard
        .kv_get("shepard/acl/key", Consistency::Consistent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((pair.value.as_slice(), pair.flags), (&b"v"[..], 3));
    let session = shepard
        .session_create(&SessionRequest {
            name: "acl".into(),
            ttl: Some(Duration::from_secs(10)),
            ..Default::default()
        })
        .await
        .unwrap();
    shepard
        .kv_acquire("shepard/acl/lock", &session, b"me", 0)
        .await
        .unwrap();
    shepard.session_destroy(&session).await.unwrap();

    // Outside the prefix: denied, for reads and writes alike.
    admin.kv_put("other/key", b"x", 0).await.unwrap();
    let denied_write = shepard.kv_put("other/key", b"y", 0).await.unwrap_err();
    assert!(
        matches!(denied_write, ConsulError::PermissionDenied { .. }),
        "{denied_write:?}"
    );
    // A transaction outside the prefix is rolled back (409) with "Permission denied": that
    // is a denial, not a lost race to retry.
    let denied_txn = shepard
        .kv_txn(&[TxnOp::CheckNotExists {
            key: "other/lock".into(),
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(denied_txn, ConsulError::PermissionDenied { .. }),
        "{denied_txn:?}"
    );
    let denied_read = shepard
        .kv_get("other/key", Consistency::Default)
        .await
        .unwrap_err();
    assert!(
        matches!(denied_read, ConsulError::PermissionDenied { .. }),
        "{denied_read:?}"
    );

    // A token Consul does not know is a different error.
    let unknown = stranger
        .kv_get("shepard/acl/key", Consistency::Default)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, ConsulError::AclNotFound { .. }),
        "{unknown:?}"
    );

    // Errors end up in logs; make sure they are in this capture too.
    for error in [&denied_write, &denied_read, &unknown] {
        tracing::error!(%error, ?error, "consul call failed");
    }
    tracing::info!(client = ?shepard.address(), "done");

    let captured = logs.contents();
    assert!(
        captured.contains("consul request") && captured.contains("kv_put"),
        "the capture must hold the client's request logs:\n{captured}"
    );
    assert!(captured.contains("permission denied"));
    for secret in [token.as_str(), master.as_str(), UNKNOWN_TOKEN] {
        assert!(
            !captured.contains(secret),
            "a token appears in the logs:\n{captured}"
        );
    }
    println!(
        "{} log lines captured, no token in any",
        captured.lines().count()
    );
}
