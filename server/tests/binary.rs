//! The `fieldlink-server` binary: start-up line, dev-certificate guard,
//! certificate generation, graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fieldlink_client::{Client, ClientConfig, Credentials};

fn certs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev")
}

/// Starts `fieldlink-server serve ARGS` and waits for its `listening on` line.
fn spawn_server(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .arg("serve")
        .args(["--http", "127.0.0.1:0", "--hj212", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fieldlink-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().expect("a line").expect("utf-8");
    let addr = line
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim()
        .parse()
        .expect("an address");
    (child, addr)
}

fn client_config(addr: SocketAddr, certs: &Path) -> ClientConfig {
    let mut config = ClientConfig::from_files(
        addr,
        "localhost",
        &certs.join("ca.pem"),
        &certs.join("device-001.pem"),
        &certs.join("device-001.key"),
        Credentials::Password {
            officer_id: "officer-01".into(),
            password: "demo-password".into(),
        },
    )
    .unwrap();
    config.connect_timeout = Duration::from_secs(60);
    config.request_timeout = Duration::from_secs(60);
    config
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    panic!("the server did not exit within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dev_on_port_zero_prints_the_real_port_serves_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let (mut child, addr) = spawn_server(&["--dev", "--listen", "127.0.0.1:0", "--data-dir", &data_dir]);
    assert_ne!(addr.port(), 0);
    let mut config = client_config(addr, &certs_dir());
    // After the shutdown below, one quick attempt is enough to see the refusal.
    config.retry.attempts_max = 1;
    config.connect_timeout = Duration::from_secs(2);
    let client = Client::connect(config).await.unwrap();
    let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    let receipt = client.submit_inspection(&record).await.unwrap();
    assert_eq!(receipt.item_id, record.id);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || wait_for_exit(&mut child))
        .await
        .unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    // The server is gone: a typed, retryable error, not a hang.
    let error = client.submit_inspection(&record).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[test]
fn without_dev_the_server_refuses_the_development_certificates() {
    let certs = certs_dir();
    let data = tempfile::tempdir().unwrap();
    let catalogue = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo-catalogue.json");
    let serve = |crl: Option<PathBuf>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .arg("--ca")
            .arg(certs.join("ca.pem"))
            .arg("--cert")
            .arg(certs.join("server.pem"))
            .arg("--key")
            .arg(certs.join("server.key"))
            .arg("--catalogue")
            .arg(&catalogue);
        if let Some(crl) = crl {
            command.arg("--crl").arg(crl);
        }
        command.output().unwrap()
    };
    let output = serve(Some(certs.join("crl.pem")));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("development CA"), "{stderr}");
    // Without a CRL, production refuses to start before anything else.
    let output = serve(None);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a CRL is required"), "{stderr}");
}

#[test]
fn a_config_file_sets_keys_and_a_bad_one_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("server.toml");
    std::fs::write(&config, "dev = true\nno_such_key = 3\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no_such_key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_regenerates_a_working_set() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .arg("certs")
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for file in [
        "ca.pem",
        "server.pem",
        "server.key",
        "device-001.pem",
        "device-001.key",
        "device-002.pem",
        "device-003.key",
        "device-revoked.pem",
        "device-revoked.key",
        "crl.pem",
    ] {
        assert!(out.path().join(file).exists(), "{file} missing");
    }
    let data = tempfile::tempdir().unwrap();
    let config = fieldlink_server::Config {
        dev: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(out.path())),
        ..Default::default()
    };
    let server = fieldlink_server::start(config).await.unwrap();
    let client = Client::connect(client_config(server.local_addr(), out.path()))
        .await
        .unwrap();
    let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    assert!(client.submit_inspection(&record).await.is_ok());
    // The new CRL revokes the new device-revoked.
    let mut revoked = client_config(server.local_addr(), out.path());
    revoked.cert_pem = std::fs::read(out.path().join("device-revoked.pem")).unwrap();
    revoked.key_pem = std::fs::read(out.path().join("device-revoked.key")).unwrap();
    assert!(matches!(
        Client::connect(revoked).await,
        Err(fieldlink_client::Error::Authentication(_))
    ));
    server.shutdown().await;
}

/// A real JPEG of about `size_bytes`: noise, then comment segments up to the size.
fn jpeg_of_size(size_bytes: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let image = image::RgbImage::from_fn(400, 300, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .unwrap();
    let mut out = jpeg[..2].to_vec();
    while out.len() + jpeg.len() - 2 + 4 < size_bytes {
        let payload = (size_bytes - (out.len() + jpeg.len() - 2) - 4).min(60_000);
        out.extend_from_slice(&[0xFF, 0xFE]);
        out.extend_from_slice(&((payload + 2) as u16).to_be_bytes());
        out.extend(std::iter::repeat_n(b'.', payload));
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_from_the_durable_offset_after_the_server_is_killed() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = [
        "--dev",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
        "--upload-checkpoint-bytes",
        "262144",
    ];
    let (mut child, addr) = spawn_server(&args);
    let jpeg = jpeg_of_size(3 * 1024 * 1024);
    let record_id = uuid::Uuid::now_v7().to_string();
    let photo = fieldlink_client::PhotoUpload::new(
        &record_id,
        "image/jpeg",
        fieldlink_client::now_ms() - 1000,
        jpeg.clone(),
    );

    // Send 60% on a raw stream and leave it open, as a terminal mid-upload.
    let config = client_config(addr, &certs_dir());
    let quic = fieldlink_client::raw::quic_client_config(&config).unwrap();
    let endpoint = fieldlink_client::raw::client_endpoint(addr, 1 << 22).unwrap();
    let (connection, _) = fieldlink_client::raw::open_raw_session(&endpoint, &quic, &config)
        .await
        .unwrap();
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    let header = fieldlink_protocol::frame::encode(&fieldlink_protocol::pb::Request {
        body: Some(fieldlink_protocol::pb::request::Body::UploadPhoto(
            photo.header(0),
        )),
        capture: None,
    });
    send.write_all(&header).await.unwrap();
    send.write_all(&jpeg[..jpeg.len() * 6 / 10]).await.unwrap();
    let observer = Client::connect(client_config(addr, &certs_dir())).await.unwrap();
    let mut durable = 0;
    for _ in 0..600 {
        durable = observer
            .upload_status(photo.evidence_id())
            .await
            .unwrap()
            .durable_offset;
        if durable >= 1024 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(durable >= 1024 * 1024, "the server made {durable} bytes durable");

    // Power cut: SIGKILL, no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(connection);

    let (mut child, addr) = spawn_server(&args);
    let mut config = client_config(addr, &certs_dir());
    config.retry.attempts_max = 3;
    let client = Client::connect(config).await.unwrap();
    let held = client
        .upload_status(photo.evidence_id())
        .await
        .unwrap()
        .durable_offset;
    assert!(
        held >= durable,
        "after the restart the server holds {held}, had {durable}"
    );
    let mut first_report = None;
    let receipt = client
        .upload_photo(&photo, |p| {
            first_report.get_or_insert(p.sent_bytes);
        })
        .await
        .unwrap();
    assert_eq!(
        first_report,
        Some(held),
        "the upload continued from the durable offset"
    );
    assert_eq!(receipt.size_bytes, jpeg.len() as u64);
    let name = hex::encode(&receipt.sha256);
    let stored = std::fs::read(data.path().join("evidence/blobs").join(&name[..2]).join(&name)).unwrap();
    assert_eq!(stored, jpeg);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn every_config_key_is_a_flag_and_flags_override_the_file() {
    // Regression: flags once existed for upload settings but were not applied.
    let defaults = toml::to_string(&fieldlink_server::Config::default()).unwrap();
    let keys: Vec<String> = defaults
        .lines()
        .filter_map(|line| line.split_once(" = ").map(|(key, _)| key.to_owned()))
        .collect();
    assert!(keys.len() >= 25, "{keys:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for key in &keys {
        if key == "dev" {
            continue;
        }
        let flag = format!("--{}", key.replace('_', "-"));
        assert!(help.contains(&flag), "{flag} is not a flag of serve");
    }
    // Every numeric key: set it by flag to a value of its own and read it back.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    std::fs::write(
        &file,
        "dev = true\nupload_checkpoint_bytes = 8192\nimage_decodes_max = 3\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .arg("--print-config");
    let mut expected = Vec::new();
    for line in defaults.lines() {
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        let new_value = if let Ok(number) = value.parse::<i64>() {
            (number + 7).to_string()
        } else if let Ok(number) = value.parse::<f64>() {
            format!("{}", number + 7.5)
        } else {
            continue;
        };
        command
            .arg(format!("--{}", key.replace('_', "-")))
            .arg(&new_value);
        expected.push(format!("{key} = {new_value}"));
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    for line in expected {
        assert!(
            printed.lines().any(|l| l == line),
            "{line} not in force:\n{printed}"
        );
    }
    // Without the flag, the file's value holds.
    let output = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .arg("--print-config")
        .output()
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.lines().any(|l| l == "image_decodes_max = 3"), "{printed}");
}

#[test]
fn log_key_writes_a_key_pair_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.key");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
            .args(["log-key", "--name", "zfj.example"])
            .arg("--out")
            .arg(&key)
            .output()
            .unwrap()
    };
    let output = run();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let public = std::fs::read_to_string(dir.path().join("log.pub")).unwrap();
    assert_eq!(printed.trim(), public.trim());
    assert!(public.starts_with("zfj.example+"));
    let private = std::fs::read_to_string(&key).unwrap();
    let signer = fieldlink_server::transparency::LogSigner::from_key(private.trim(), "o").unwrap();
    assert_eq!(signer.verifier_key(), public.trim());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = run();
    assert!(!again.status.success());
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        private,
        "the key was overwritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_and_export_work_on_stored_data_and_refuse_what_is_missing() {
    let data = tempfile::tempdir().unwrap();
    let audit = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
            .args(["audit", "--dev", "--data-dir"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let missing = audit(data.path());
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database"));

    let config = fieldlink_server::Config {
        dev: true,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data.path().to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(&certs_dir())),
        ..fieldlink_server::Config::default()
    };
    let server = fieldlink_server::start(config).await.unwrap();
    let mut client_config = ClientConfig::from_files(
        server.local_addr(),
        "localhost",
        &certs_dir().join("ca.pem"),
        &certs_dir().join("device-001.pem"),
        &certs_dir().join("device-001.key"),
        Credentials::Password {
            officer_id: "officer-01".into(),
            password: fieldlink_server::directory::DEMO_PASSWORD.into(),
        },
    )
    .unwrap();
    client_config.request_timeout = Duration::from_secs(60);
    let client = Client::connect(client_config).await.unwrap();
    let mut record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    record.case_id = "CASE-BIN-1".into();
    client.submit_inspection(&record).await.unwrap();
    client.close().await;
    server.shutdown().await;

    let dir = data.path().to_path_buf();
    let intact = tokio::task::spawn_blocking(move || audit(&dir)).await.unwrap();
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&intact.stdout).unwrap();
    assert_eq!(report["leaves"], 1);
    assert_eq!(report["problems"], serde_json::json!([]));

    // Export the case with the binary; the package verifies offline.
    let export = |case: &str, out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
            .args(["export", "case", case, "--dev", "--by", "clerk-01", "--data-dir"])
            .arg(data.path())
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let package = data.path().join("case.tar");
    let made = export("CASE-BIN-1", &package);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(summary["items"], 1);
    let key = std::fs::read_to_string(certs_dir().join("log.pub")).unwrap();
    let verified = fieldlink_client::evidence_export::verify_package(
        &package,
        &fieldlink_client::evidence_export::Trust {
            log_key: Some(&key),
            witness_keys: &[],
            ca_pem: None,
        },
    )
    .unwrap();
    assert!(verified.ok, "{verified:?}");
    // Never over an existing file; an unknown case is refused.
    let again = export("CASE-BIN-1", &package);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let unknown = export("CASE-NONE", &data.path().join("none.tar"));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no items"));
    assert!(!data.path().join("none.tar").exists());
    // The audit logged itself and the export logged itself: two custody
    // leaves after the record's.
    let after = audit(data.path());
    let report: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(report["leaves"], 3, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));
}

/// `tokens revoke`, `devices list` and `devices issue` on a server's stored
/// data and the agency CA, as an operator runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_device_commands_work_on_stored_data() {
    let data = tempfile::tempdir().unwrap();
    let config = fieldlink_server::Config {
        dev: true,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data.path().to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(&certs_dir())),
        ..fieldlink_server::Config::default()
    };
    let server = fieldlink_server::start(config).await.unwrap();
    let client = Client::connect(client_config(server.local_addr(), &certs_dir()))
        .await
        .unwrap();
    client.close().await;
    server.shutdown().await;

    let dir = data.path().to_path_buf();
    let run = move |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
            .args(args)
            .args(["--dev", "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    let revoked = run(&["tokens", "revoke", "--officer", "officer-01"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert!(answer["revoked"].as_u64().unwrap() >= 1, "{answer}");
    let nobody = run(&["tokens", "revoke", "--officer", "nobody-99"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("not in the directory"));
    let listed = run(&["devices", "list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let devices: Vec<serde_json::Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        devices.iter().any(|d| d["device_id"] == "device-001"),
        "{devices:?}"
    );

    let out = tempfile::tempdir().unwrap();
    let issue = || {
        Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
            .args(["devices", "issue", "--id", "device-777", "--ca-cert"])
            .arg(certs_dir().join("ca.pem"))
            .arg("--ca-key")
            .arg(certs_dir().join("ca.key"))
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap()
    };
    let issued = issue();
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&issued.stdout).unwrap();
    assert_eq!(summary["device_id"], "device-777");
    assert!(out.path().join("device-777.pem").exists() && out.path().join("device-777.key").exists());
    assert_eq!(issue().status.code(), Some(1), "never overwritten");
}
