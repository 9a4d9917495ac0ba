//! Responses no healthy Consul sends — truncated JSON, an HTML error page, a 500 with a text
//! body, a connection cut mid-body — served by a local HTTP server: every one becomes a
//! typed error, none panics.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use futures::StreamExt;
use shepard::api_metrics::{Api, ApiMetrics};
use shepard::blocking::BlockingParams;
use shepard::consul::{Consistency, ConsulClient, ConsulError};
use shepard::tls::TlsConfig;
use shepard::watch::{WatchConfig, WatchError, watch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HTML: &str = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
                    <body><h1>Bad Gateway</h1><p>nginx</p></body></html>";

fn indexed(body: &'static str) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert("X-Consul-Index", "42".parse().unwrap());
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    (headers, body)
}

async fn serve() -> String {
    let app = Router::new()
        .route(
            "/v1/kv/truncated",
            get(|| async { indexed(r#"[{"Key":"truncated","Value":"YQ==","Fla"#) }),
        )
        .route(
            "/v1/kv/html",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], HTML) }),
        )
        .route(
            "/v1/kv/err500",
            any(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "rpc error making call: leadership lost while committing log",
                )
            }),
        )
        .route(
            "/v1/kv/badbase64",
            get(|| async { indexed(r#"[{"Key":"badbase64","Value":"@@@","Flags":0}]"#) }),
        )
        .route(
            "/v1/kv/noindex",
            get(|| async { r#"[{"Key":"noindex","Value":"YQ==","Flags":0}]"# }),
        )
        .route("/v1/kv/maybe", any(|| async { "maybe" }))
        .route(
            "/v1/kv/wrongshape",
            get(|| async { indexed(r#"{"Key":"x"}"#) }),
        )
        .route(
            "/v1/session/info/{id}",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    HTML,
                )
            }),
        )
        .route("/v1/session/renew/{id}", any(|| async { indexed("[]") }))
        .route("/v1/status/leader", get(|| async { "" }))
        .route(
            "/v1/health/node/{node}",
            get(|| async { indexed(r#"[{"Node":"vm","CheckID":"c","Status":"passing","#) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A server that promises 200 bytes of JSON and hangs up after 10.
async fn serve_cut_body() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                      X-Consul-Index: 7\r\nContent-Length: 200\r\n\r\n[{\"Key\":\"a",
                )
                .await;
            drop(stream);
        }
    });
    format!("http://{addr}")
}

fn client(addr: &str) -> ConsulClient {
    ConsulClient::new(
        addr,
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap()
}

fn is_decode(e: &ConsulError) -> bool {
    matches!(e, ConsulError::Decode { .. })
}

#[tokio::test]
async fn malformed_responses_become_typed_errors() {
    let c = client(&serve().await);
    let get = |key: &'static str| {
        let c = c.clone();
        async move { c.kv_get(key, Consistency::Default).await.unwrap_err() }
    };

    let truncated = get("truncated").await;
    assert!(is_decode(&truncated), "{truncated:?}");
    assert!(truncated.to_string().contains("EOF"), "{truncated}");

    let html = get("html").await;
    assert!(is_decode(&html), "{html:?}");
    assert!(
        html.to_string().contains("Bad Gateway"),
        "body excerpt: {html}"
    );

    match get("err500").await {
        ConsulError::Server { status, body, .. } => {
            assert_eq!(status, 500);
            assert!(body.contains("leadership lost"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    let write = c.kv_put("err500", b"x", 0).await.unwrap_err();
    assert!(
        matches!(write, ConsulError::Server { status: 500, .. }),
        "{write:?}"
    );

    assert!(is_decode(&get("badbase64").await));
    assert!(is_decode(&get("wrongshape").await));
    let no_index = c
        .kv_get_blocking("noindex", BlockingParams::default())
        .await
        .unwrap_err();
    assert!(
        no_index.to_string().contains("X-Consul-Index"),
        "{no_index}"
    );
    let maybe = c.kv_cas("maybe", b"x", 0, 3).await.unwrap_err();
    assert!(is_decode(&maybe), "{maybe:?}");

    match c.session_info("abc").await.unwrap_err() {
        ConsulError::Server { status, body, .. } => {
            assert_eq!(status, 502);
            assert!(body.starts_with("<!DOCTYPE html>"));
        }
        other => panic!("{other:?}"),
    }
    let renew = c.session_renew("abc").await.unwrap_err();
    assert!(renew.is_invalid_session(), "{renew:?}");
    assert!(is_decode(&c.status_leader().await.unwrap_err()));
    let health = c
        .health_node("vm", BlockingParams::default())
        .await
        .unwrap_err();
    assert!(is_decode(&health), "{health:?}");
}

#[tokio::test]
async fn a_body_cut_short_is_a_transport_error() {
    let c = client(&serve_cut_body().await);
    let e = c.kv_get("a", Consistency::Default).await.unwrap_err();
    assert!(matches!(e, ConsulError::Transport { .. }), "{e:?}");
}

#[tokio::test]
async fn a_watch_over_a_broken_server_reports_errors_and_keeps_going() {
    let c = client(&serve().await);
    let mut config = WatchConfig::new(Api::Consul, "kv:truncated", Duration::from_secs(1));
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(20);
    let mut stream = Box::pin(watch(config, ApiMetrics::unregistered(), move |params| {
        let c = c.clone();
        async move { c.kv_get_blocking("truncated", params).await }
    }));
    for _ in 0..3 {
        match stream.next().await {
            Some(Err(WatchError::Fetch(e))) => assert!(is_decode(&e), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
}
