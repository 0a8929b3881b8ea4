//! Who may connect: mutual TLS at the handshake, then the officer's sign-in.

use std::sync::Arc;

use fieldlink_client::{Client, Credentials, Error};
use fieldlink_protocol::pb::Code;
use fieldlink_tests::{certs_dir, client_config, connect, record, TestServer};

async fn expect_authentication_refused(config: fieldlink_client::ClientConfig) {
    match Client::connect(config).await {
        Err(Error::Authentication(detail)) => assert!(!detail.is_empty()),
        Err(other) => panic!("expected an authentication error, got {other:?}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

#[tokio::test]
async fn a_revoked_device_is_refused_at_the_handshake() {
    let server = TestServer::start().await;
    expect_authentication_refused(client_config(server.addr(), "device-revoked", "officer-01")).await;
    // The server keeps serving others.
    assert!(connect(server.addr(), "device-002", "officer-02").await.is_ok());
}

#[tokio::test]
async fn a_device_of_another_ca_is_refused_at_the_handshake() {
    let server = TestServer::start().await;
    expect_authentication_refused(client_config(server.addr(), "foreign-device", "officer-01")).await;
}

#[tokio::test]
async fn a_terminal_without_a_certificate_is_refused_at_the_handshake() {
    let server = TestServer::start().await;
    let certs = certs_dir();
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(certs.join("ca.pem")).unwrap();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut tls =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    tls.alpn_protocols = vec![fieldlink_protocol::ALPN.to_vec()];
    let quic = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    ));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connection = match endpoint
        .connect_with(quic, server.addr(), "localhost")
        .unwrap()
        .await
    {
        Ok(connection) => connection,
        // Refused within the handshake itself: fine.
        Err(error) => return assert_tls_alert(&error),
    };
    // With TLS 1.3 the refusal arrives at the first stream at the latest.
    let attempt = async {
        let (mut send, mut recv) = connection.open_bi().await?;
        send.write_all(&[0]).await?;
        send.finish()?;
        recv.read_to_end(100).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    assert!(attempt.is_err(), "a connection without a certificate was served");
    assert_tls_alert(
        &connection
            .close_reason()
            .expect("the server closed the connection"),
    );
}

/// The connection was closed with a TLS alert (QUIC crypto error 0x100-0x1ff).
fn assert_tls_alert(error: &quinn::ConnectionError) {
    let code = match error {
        quinn::ConnectionError::ConnectionClosed(close) => u64::from(close.error_code),
        quinn::ConnectionError::TransportError(error) => u64::from(error.code),
        other => panic!("expected a TLS alert, got {other}"),
    };
    assert!(
        (0x100..0x200).contains(&code),
        "expected a TLS alert, got {error}"
    );
}

#[tokio::test]
async fn a_wrong_password_or_unknown_officer_is_unauthenticated() {
    let server = TestServer::start().await;
    for (officer, password) in [("officer-01", "wrong"), ("nobody", fieldlink_tests::PASSWORD)] {
        let mut config = client_config(server.addr(), "device-001", officer);
        config.credentials = Credentials::Password {
            officer_id: officer.into(),
            password: password.into(),
        };
        match Client::connect(config).await {
            Err(Error::SignInRefused(status)) => {
                assert_eq!(status.code_or_unknown(), Code::Unauthenticated);
                // The same answer for both: no oracle for which ids exist.
                assert_eq!(status.reason, "BAD_CREDENTIALS");
            }
            Err(other) => panic!("expected a refused sign-in, got {other:?}"),
            Ok(_) => panic!("{officer} signed in with a wrong password"),
        }
    }
}

#[tokio::test]
async fn a_session_token_signs_in_on_its_own_device_only() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let welcome = client.welcome().await.unwrap();
    assert_eq!(welcome.device_id, "device-001");
    assert_eq!(welcome.officer.as_ref().unwrap().officer_id, "officer-01");
    assert_eq!(welcome.session_token.len(), 64);
    assert!(welcome.session_token_expires_at_ms > welcome.server_time_ms);
    let limits = welcome.limits.unwrap();
    assert_eq!(
        limits.frame_bytes_max,
        fieldlink_protocol::limits::FRAME_BYTES_MAX_DEFAULT
    );

    let mut same_device = client_config(server.addr(), "device-001", "officer-01");
    same_device.credentials = Credentials::Token(welcome.session_token.clone());
    let reconnected = Client::connect(same_device).await.unwrap();
    assert!(reconnected.submit_inspection(&record("officer-01")).await.is_ok());

    let mut other_device = client_config(server.addr(), "device-002", "officer-01");
    other_device.credentials = Credentials::Token(welcome.session_token.clone());
    assert!(matches!(
        Client::connect(other_device).await,
        Err(Error::SignInRefused(_))
    ));

    // Revoked tokens stop working.
    let storage = &server.server.state().storage;
    assert!(
        storage
            .revoke_session_tokens("officer-01", fieldlink_client::now_ms())
            .await
            .unwrap()
            >= 1
    );
    let mut revoked = client_config(server.addr(), "device-001", "officer-01");
    revoked.credentials = Credentials::Token(welcome.session_token);
    assert!(matches!(
        Client::connect(revoked).await,
        Err(Error::SignInRefused(_))
    ));
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused_naming_the_supported_ones() {
    use fieldlink_protocol::pb;
    let server = TestServer::start().await;
    let config = client_config(server.addr(), "device-001", "officer-01");
    let quic = fieldlink_client::raw::quic_client_config(&config).unwrap();
    let endpoint = fieldlink_client::raw::client_endpoint(server.addr(), 1 << 20).unwrap();
    let connection = endpoint
        .connect_with(quic, server.addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let hello = pb::Hello {
        protocol_version: 99,
        sign_in: Some(pb::hello::SignIn::Password(pb::PasswordSignIn {
            officer_id: "officer-01".into(),
            password: fieldlink_tests::PASSWORD.into(),
        })),
        ..Default::default()
    };
    fieldlink_protocol::io::write_frame(&mut send, &hello)
        .await
        .unwrap();
    send.finish().unwrap();
    let body = fieldlink_protocol::io::read_frame(&mut recv, 1 << 16)
        .await
        .unwrap();
    let response: pb::HelloResponse = prost::Message::decode(body.as_slice()).unwrap();
    let Some(pb::hello_response::Result::Error(status)) = response.result else {
        panic!("expected a refusal, got {response:?}")
    };
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    assert_eq!(status.reason, "UNSUPPORTED_VERSION");
    assert_eq!(status.supported_versions, vec![1]);
}

#[tokio::test]
async fn officers_imported_from_a_directory_file_can_sign_in() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let hash = fieldlink_server::auth::hash_password("a long passphrase").unwrap();
    std::fs::write(
        file.path(),
        format!(
            "[[teams]]\nid = \"team-x\"\nname = \"X\"\n\n[[officers]]\nid = \"officer-77\"\nname = \"赵六\"\n\
             team_id = \"team-x\"\ncredential_number = \"1\"\nrole = \"officer\"\npassword_hash = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let path = file.path().to_path_buf();
    let server = TestServer::start_with(move |config| config.directory = Some(path)).await;
    let mut config = client_config(server.addr(), "device-003", "officer-77");
    config.credentials = Credentials::Password {
        officer_id: "officer-77".into(),
        password: "a long passphrase".into(),
    };
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.welcome().await.unwrap().officer.unwrap().team_id, "team-x");
    assert!(client.submit_inspection(&record("officer-77")).await.is_ok());
}
