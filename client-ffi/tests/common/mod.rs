//! What the C and Python tests share: a server with an assignment waiting
//! for officer-01, the files a terminal app would have, and the library.

use std::path::{Path, PathBuf};

use fieldlink_client::protocol::pb;
use fieldlink_tests::photos::{self, Exif};
use fieldlink_tests::{assignment_for, certs_dir, connect, record, TestServer, PASSWORD};
use prost::Message;

/// A running server, the files, and the dispatched assignment's id.
pub struct Setup {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    pub assignment_id: String,
    pub jpeg: Vec<u8>,
}

impl Setup {
    pub async fn start() -> Self {
        let server = TestServer::start().await;
        let supervisor = connect(server.addr(), "device-003", "supervisor-01")
            .await
            .expect("supervisor signs in");
        let created = supervisor
            .create_assignment(&assignment_for("officer-01"))
            .await
            .expect("dispatch");
        let assignment_id = created.assignment.expect("the assignment").id;
        supervisor.close().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = certs_dir();
        let config = serde_json::json!({
            "server_addr": server.addr().to_string(),
            "tcp_server_addr": server.tcp_addr().to_string(),
            "server_name": "localhost",
            "ca_pem_path": certs.join("ca.pem"),
            "cert_pem_path": certs.join("device-001.pem"),
            "key_pem_path": certs.join("device-001.key"),
            "officer_id": "officer-01",
            "password": PASSWORD,
            // Generous: the test machine is loaded.
            "connect_timeout_ms": 30_000,
            "request_timeout_ms": 60_000,
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
        std::fs::write(
            dir.path().join("record.bin"),
            record("officer-01").encode_to_vec(),
        )
        .expect("record");
        std::fs::write(
            dir.path().join("record2.bin"),
            record("officer-01").encode_to_vec(),
        )
        .expect("record");
        let jpeg = photos::jpeg_with_exif(
            320,
            240,
            7,
            Exif {
                captured_at_ms: fieldlink_client::now_ms() - 60_000,
                position: Some((29.8683, 121.5440)),
            },
        );
        std::fs::write(dir.path().join("photo.jpg"), &jpeg).expect("photo");
        Self {
            server,
            dir,
            assignment_id,
            jpeg,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Whether the server stored the item with this id.
    pub async fn stored(&self, id: &str) -> bool {
        let id = uuid::Uuid::parse_str(id).expect("a UUID");
        self.server
            .server
            .state()
            .storage
            .item(id)
            .await
            .expect("storage answers")
            .is_some()
    }

    /// Decodes an event the app printed as hex.
    pub fn event(hex_text: &str) -> pb::AssignmentEvent {
        let bytes = hex::decode(hex_text).expect("hex");
        pb::AssignmentEvent::decode(bytes.as_slice()).expect("an AssignmentEvent")
    }
}

/// The directory holding the shared library cargo built for these tests
/// (`target/<profile>/` or its `deps/`).
pub fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    for dir in [
        deps.clone(),
        deps.parent().map(Path::to_path_buf).unwrap_or_default(),
    ] {
        if dir.join("libfieldlink_client_ffi.so").exists() {
            return dir;
        }
    }
    panic!("libfieldlink_client_ffi.so not found beside {}", deps.display());
}

/// The "key=value" lines an app printed.
pub fn lines(stdout: &[u8]) -> std::collections::HashMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
