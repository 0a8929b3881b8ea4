//! A local S3-compatible server for tests of the object-store evidence
//! option: moto's server (`pip install 'moto[server]'`, which `.ci/run`
//! does), started on a free loopback port and stopped on drop. Where moto is
//! not installed, [`S3Server::start`] prints why and returns `None` — unless
//! `FIELDLINK_REQUIRE_S3=1` (CI), when that is a failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running moto server.
pub struct S3Server {
    /// Its address.
    pub addr: SocketAddr,
    child: Child,
}

impl S3Server {
    /// Starts one, or `None` (with the reason printed) when moto is missing
    /// and not required.
    pub fn start() -> Option<Self> {
        let required = std::env::var("FIELDLINK_REQUIRE_S3").is_ok_and(|v| v == "1");
        match Self::try_start() {
            Ok(server) => Some(server),
            Err(reason) if required => panic!("an S3 server is required (FIELDLINK_REQUIRE_S3=1): {reason}"),
            Err(reason) => {
                eprintln!("SKIPPED: no local S3 server ({reason}); pip install 'moto[server]' to run");
                None
            }
        }
    }

    fn try_start() -> Result<Self, String> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            probe.local_addr().map_err(|e| e.to_string())?.port()
        };
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let mut server = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        };
        // Bounded: 60 s for moto to listen.
        for _ in 0..600 {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("moto exited with {status} (is moto[server] installed?)"));
            }
            if TcpStream::connect_timeout(&server.addr, Duration::from_millis(100)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = server.child.kill();
        Err("moto did not start listening".into())
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, _) = self.request("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// An object's bytes, read with a client of the test's own (signed
    /// requests; moto keeps objects private), not through the server's store.
    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("fieldlink-test")
            .with_secret_access_key("fieldlink-test")
            .build()
            .expect("an S3 client");
        let object = store.get(&object_store::path::Path::from(key)).await.ok()?;
        Some(object.bytes().await.ok()?.to_vec())
    }

    /// The bucket's listing (XML), for diagnostics.
    pub fn listing(&self, bucket: &str) -> String {
        let (status, body) = self.request("GET", &format!("/{bucket}"));
        format!("{status} {}", String::from_utf8_lossy(&body))
    }

    /// One plain HTTP/1.0 request (moto accepts unsigned requests).
    fn request(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(self.addr).expect("connect to moto");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.addr
        )
        .expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read");
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, response[split + 4..].to_vec())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
