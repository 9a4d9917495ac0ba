//! TLS against a real Consul dev agent serving HTTPS with a certificate issued for a DNS
//! name only: connecting to `https://127.0.0.1` works exactly when the client is told to
//! expect that name (`tls_server_name`), with mutual TLS required by the agent.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use shepard::api_metrics::ApiMetrics;
use shepard::consul::{ConsulClient, ConsulError};
use shepard::tls::TlsConfig;
use shepard_testkit::{ConsulDev, ConsulDevOptions, TlsFiles};

const SERVER_NAME: &str = "server.dc1.consul";

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// A CA, a server certificate for [`SERVER_NAME`] only (no IP SAN) and a client
/// certificate, written as PEM files into `dir`.
fn pki(dir: &Path) -> Pki {
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "shepard test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec![SERVER_NAME.to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["shepard.client".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server-key.pem", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client-key.pem", client_key.serialize_pem()),
    }
}

async fn leader(addr: &str, tls: TlsConfig) -> Result<String, ConsulError> {
    let client = ConsulClient::new(addr, None, &tls, ApiMetrics::unregistered())?;
    client.status_leader().await
}

#[tokio::test]
async fn the_server_name_override_verifies_against_the_configured_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let consul = ConsulDev::start_with(ConsulDevOptions {
        tls: Some(TlsFiles {
            ca_file: pki.ca.clone(),
            cert_file: pki.server_cert.clone(),
            key_file: pki.server_key.clone(),
            verify_incoming: true,
        }),
        ..Default::default()
    });
    let addr = format!("https://127.0.0.1:{}", consul.https_port().unwrap());
    let mutual = TlsConfig {
        ca_file: Some(pki.ca.clone()),
        client_cert: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
        server_name: Some(SERVER_NAME.into()),
        insecure_skip_verify: false,
    };

    let ok = leader(&addr, mutual.clone()).await.unwrap();
    assert!(ok.starts_with("127.0.0.1:"), "{ok}");

    // Without the override the certificate does not match 127.0.0.1.
    let no_name = TlsConfig {
        server_name: None,
        ..mutual.clone()
    };
    let e = leader(&addr, no_name).await.unwrap_err();
    assert!(matches!(e, ConsulError::Transport { .. }), "{e:?}");
    assert!(format!("{e:?}").contains("NotValidForName"), "{e:?}");

    // A different expected name is refused as well.
    let wrong_name = TlsConfig {
        server_name: Some("other.dc1.consul".into()),
        ..mutual.clone()
    };
    let e = leader(&addr, wrong_name).await.unwrap_err();
    assert!(matches!(e, ConsulError::Transport { .. }), "{e:?}");
    assert!(format!("{e:?}").contains("NotValidForName"), "{e:?}");

    // The override path still presents the client certificate the agent requires.
    let no_identity = TlsConfig {
        client_cert: None,
        client_key: None,
        ..mutual.clone()
    };
    let e = leader(&addr, no_identity).await.unwrap_err();
    assert!(matches!(e, ConsulError::Transport { .. }), "{e:?}");
    assert!(format!("{e:?}").contains("BadCertificate"), "{e:?}");

    // Without the CA the chain is not trusted (or there are no roots at all).
    let no_ca = TlsConfig {
        ca_file: None,
        ..mutual.clone()
    };
    let e = leader(&addr, no_ca).await.unwrap_err();
    assert!(
        matches!(e, ConsulError::Transport { .. } | ConsulError::Config(_)),
        "{e:?}"
    );

    // Skipping verification connects whatever the name.
    let skip = TlsConfig {
        ca_file: None,
        server_name: None,
        insecure_skip_verify: true,
        ..mutual
    };
    assert!(leader(&addr, skip).await.is_ok());
}
