//! Administration without a restart: the directory reloads from the console
//! and on SIGHUP, checked whole first; an officer the file no longer lists
//! is taken out of service at once (sign-in refused, tokens revoked, live
//! sessions closed with SESSION_ENDED); `tokens revoke` ends an officer's
//! sessions on the running server; `devices issue` makes a certificate the
//! server accepts, and `devices list` shows it.

use std::time::Duration;

use fieldlink_client::{ClientConfig, Credentials};
use fieldlink_tests::{client_config, directory_file, TestServer};
use serde_json::json;

use crate::console::{send, sign_in};

fn officers(ids: &[&str]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| (id.to_string(), "team-a".to_owned()))
        .collect()
}

/// Waits (generously) until `connection` closes; its close code.
async fn closed_with(connection: &quinn::Connection) -> u64 {
    let error = tokio::time::timeout(Duration::from_secs(60), connection.closed())
        .await
        .expect("the session is ended");
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => close.error_code.into_inner(),
        other => panic!("closed otherwise: {other}"),
    }
}

/// A raw signed-in session with these credentials, or the refusal.
async fn session(
    server: &TestServer,
    device: &str,
    credentials: Credentials,
) -> Result<(quinn::Endpoint, quinn::Connection, String), fieldlink_client::Error> {
    let mut config = client_config(server.addr(), device, "officer-01");
    config.credentials = credentials;
    raw(&config, server).await
}

async fn raw(
    config: &ClientConfig,
    server: &TestServer,
) -> Result<(quinn::Endpoint, quinn::Connection, String), fieldlink_client::Error> {
    let quic = fieldlink_client::raw::quic_client_config(config).expect("client TLS");
    let endpoint = fieldlink_client::raw::client_endpoint(server.addr(), 1 << 20).expect("endpoint");
    let (connection, welcome) = fieldlink_client::raw::open_raw_session(&endpoint, &quic, config).await?;
    Ok((endpoint, connection, welcome.session_token))
}

fn password(officer: &str) -> Credentials {
    Credentials::Password {
        officer_id: officer.into(),
        password: fieldlink_tests::PASSWORD.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_officer_is_out_at_once_and_a_bad_file_changes_nothing() {
    let file = directory_file(&officers(&["officer-01", "officer-02"]));
    let path = file.path().to_owned();
    let server = TestServer::start_with(|config| {
        config.directory = Some(path.clone());
        config.http = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let console = sign_in(&base, "supervisor-01").await.unwrap();

    // officer-02 is signed in twice: by password, and by its token.
    let (_e1, by_password, token) = session(&server, "device-002", password("officer-02"))
        .await
        .unwrap();
    let (_e2, by_token, _) = session(&server, "device-002", Credentials::Token(token.clone()))
        .await
        .unwrap();

    // A broken file is refused whole; nothing changes.
    std::fs::write(&path, "[[officers]]\nid = \"officer-01\"\n").unwrap();
    let (status, refusal) = send(console.post("/api/admin/reload", &json!({"directory": true}))).await;
    assert_eq!(
        (status, refusal["field"].as_str()),
        (400, Some("directory")),
        "{refusal}"
    );
    assert!(session(&server, "device-003", password("officer-02"))
        .await
        .is_ok());

    // The file without officer-02: out of service at once.
    let without = directory_file(&officers(&["officer-01"]));
    std::fs::copy(without.path(), &path).unwrap();
    let (status, done) = send(console.post("/api/admin/reload", &json!({"directory": true}))).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["directory"]["disabled"], json!(["officer-02"]), "{done}");
    assert!(
        done["directory"]["sessions_closed"].as_u64().unwrap() >= 2,
        "{done}"
    );
    assert_eq!(done["catalogue"], json!(null));
    let ended = u64::from(fieldlink_protocol::close_code::SESSION_ENDED);
    assert_eq!(closed_with(&by_password).await, ended);
    assert_eq!(closed_with(&by_token).await, ended);
    for credentials in [password("officer-02"), Credentials::Token(token)] {
        let refused = session(&server, "device-002", credentials).await;
        assert!(
            matches!(&refused, Err(fieldlink_client::Error::SignInRefused(status)) if status.reason == "BAD_CREDENTIALS"),
            "{refused:?}"
        );
    }
    // Kept in the database for the records they made, not enrolled.
    let (_, stored) = server.server.state().storage.load_directory().await.unwrap();
    let gone = stored.iter().find(|o| o.id == "officer-02").unwrap();
    assert!(!gone.enrolled);
    assert!(session(&server, "device-001", password("officer-01"))
        .await
        .is_ok());

    // Back in the file, and SIGHUP: back in service.
    let with = directory_file(&officers(&["officer-01", "officer-02"]));
    std::fs::copy(with.path(), &path).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(60), async {
        while session(&server, "device-002", password("officer-02"))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the SIGHUP reload puts officer-02 back");

    // Nothing to reload, or an unknown field: refused.
    for body in [
        json!({}),
        json!({"directory": false}),
        json!({"everything": true}),
    ] {
        let (status, refusal) = send(console.post("/api/admin/reload", &body)).await;
        assert_eq!(status, 400, "{body}: {refusal}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_officers_tokens_ends_their_live_sessions() {
    let server = TestServer::start_with(|config| config.directory_refresh_interval_ms = 100).await;
    let (_e1, live, token) = session(&server, "device-001", password("officer-01"))
        .await
        .unwrap();
    let (_e2, other, _) = session(&server, "device-002", password("officer-02"))
        .await
        .unwrap();
    // The command, as `fieldlink-server tokens revoke` runs it, against the
    // same database while the server runs.
    // The same data directory or database as the running server.
    let config = (*server.server.state().config).clone();
    assert!(
        fieldlink_server::admin::revoke_tokens(&config, "officer-01")
            .await
            .unwrap()
            >= 1
    );
    assert!(fieldlink_server::admin::revoke_tokens(&config, "nobody-99")
        .await
        .is_err());
    assert_eq!(
        closed_with(&live).await,
        u64::from(fieldlink_protocol::close_code::SESSION_ENDED)
    );
    assert!(session(&server, "device-001", Credentials::Token(token))
        .await
        .is_err());
    // Others stay; a new password sign-in works (and is not ended).
    let (_e3, again, _) = session(&server, "device-001", password("officer-01"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(other.close_reason().is_none());
    assert!(again.close_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_device_certificate_connects_and_is_listed() {
    let server = TestServer::start().await;
    let certs = fieldlink_tests::certs_dir();
    let out = tempfile::tempdir().unwrap();
    let read = |file: &str| std::fs::read_to_string(certs.join(file)).unwrap();
    let issued = fieldlink_server::certs::issue_device(
        out.path(),
        "device-new-07",
        &read("ca.pem"),
        &read("ca.key"),
        30,
    )
    .unwrap();
    assert_eq!(issued.device_id, "device-new-07");
    // Never overwritten; a bad id or term refused.
    assert!(fieldlink_server::certs::issue_device(
        out.path(),
        "device-new-07",
        &read("ca.pem"),
        &read("ca.key"),
        30
    )
    .is_err());
    assert!(fieldlink_server::certs::issue_device(
        out.path(),
        "bad id",
        &read("ca.pem"),
        &read("ca.key"),
        30
    )
    .is_err());
    assert!(fieldlink_server::certs::issue_device(
        out.path(),
        "device-x",
        &read("ca.pem"),
        &read("ca.key"),
        0
    )
    .is_err());
    assert!(fieldlink_server::certs::issue_device(
        out.path(),
        "device-y",
        &read("ca.pem"),
        &read("server.key"),
        30
    )
    .is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&issued.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut config = client_config(server.addr(), "device-001", "officer-01");
    config.cert_pem = std::fs::read(&issued.certificate).unwrap();
    config.key_pem = std::fs::read(&issued.key).unwrap();
    let quic = fieldlink_client::raw::quic_client_config(&config).expect("client TLS");
    let endpoint = fieldlink_client::raw::client_endpoint(server.addr(), 1 << 20).expect("endpoint");
    let (connection, welcome) = fieldlink_client::raw::open_raw_session(&endpoint, &quic, &config)
        .await
        .expect("the issued certificate is accepted");
    assert_eq!(welcome.device_id, "device-new-07");
    connection.close(0u32.into(), b"done");
    let data = (*server.server.state().config).clone();
    let devices = fieldlink_server::admin::devices(&data).await.unwrap();
    let listed = devices
        .iter()
        .find(|d| d.device_id == "device-new-07")
        .expect("listed");
    assert_eq!(listed.serial_hex, issued.serial_hex);
    assert_eq!(listed.revoked_at_ms, None);
}

/// Credentials have validity dates and a history: an officer whose
/// credential had lapsed cannot be named on an enforcement action, and a
/// record shows the credential numbers recorded when it was made, even
/// after the directory gives the officer a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_keep_the_credentials_in_force_when_they_were_made() {
    let file = directory_file(&officers(&["officer-01", "officer-02", "officer-03"]));
    let path = file.path().to_owned();
    // officer-02's credential (number "1") lapsed at the end of 2020.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "credential_number = \"1\"",
        "credential_number = \"1\"\ncredential_valid_until = \"2020-12-31\"",
    );
    std::fs::write(&path, text).unwrap();
    let server = TestServer::start_with(|config| {
        config.directory = Some(path.clone());
        config.http = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let client = fieldlink_tests::connect(server.addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let mut lapsed = fieldlink_tests::record("officer-01");
    lapsed.outcome = fieldlink_protocol::pb::Outcome::OrderToRectify as i32;
    lapsed.officer_ids.push("officer-02".into());
    let refused = client.submit_inspection(&lapsed).await.unwrap_err();
    assert!(
        matches!(&refused, fieldlink_client::Error::Rejected(status) if status.field == "officer_ids[1]"),
        "{refused:?}"
    );
    let mut good = fieldlink_tests::record("officer-01");
    good.outcome = fieldlink_protocol::pb::Outcome::OrderToRectify as i32;
    good.officer_ids.push("officer-03".into());
    client.submit_inspection(&good).await.unwrap();

    // officer-03 gets a new credential number (a moment later: the history
    // is by the millisecond).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("credential_number = \"2\"", "credential_number = \"33029999\"");
    std::fs::write(&path, text).unwrap();
    fieldlink_server::reload::reload_directory(server.server.state())
        .await
        .unwrap();
    let mut later = fieldlink_tests::record("officer-01");
    later.outcome = fieldlink_protocol::pb::Outcome::OrderToRectify as i32;
    later.officer_ids.push("officer-03".into());
    client.submit_inspection(&later).await.unwrap();
    client.close().await;

    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let numbers = |view: &serde_json::Value| -> Vec<(String, String, bool)> {
        view["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["officer_id"].as_str().unwrap().to_owned(),
                    c["credential_number"].as_str().unwrap_or("").to_owned(),
                    c["in_force"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let (_, first) = send(console.get(&format!("/api/items/{}", good.id))).await;
    assert_eq!(
        numbers(&first),
        [
            ("officer-01".to_owned(), "0".to_owned(), true),
            ("officer-03".to_owned(), "2".to_owned(), true)
        ],
        "{first}"
    );
    let (_, second) = send(console.get(&format!("/api/items/{}", later.id))).await;
    assert_eq!(
        numbers(&second)[1],
        ("officer-03".to_owned(), "33029999".to_owned(), true)
    );
}
