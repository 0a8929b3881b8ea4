//! Throwaway PostgreSQL databases for tests and benchmarks: each gets a
//! fresh database (so tests run in parallel and share nothing) that is
//! dropped again when the handle goes.
//!
//! The server to use is `FIELDLINK_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, what this machine kind runs).
//! Where none is reachable, [`ScratchDatabase::create`] prints why and
//! returns `None` so the caller can skip — unless `FIELDLINK_REQUIRE_POSTGRES=1`
//! (CI sets it), when that is a failure: the PostgreSQL tests never pass
//! silently by not running.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// The default server for tests.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists while this lives.
#[derive(Debug)]
pub struct ScratchDatabase {
    /// Its URL.
    pub url: String,
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates a fresh database, or `None` (with the reason printed) when no
    /// server is reachable and none is required.
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("FIELDLINK_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let required = std::env::var("FIELDLINK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        match Self::try_create(&admin_url).await {
            Ok(database) => Some(database),
            Err(reason) if required => {
                panic!("PostgreSQL required (FIELDLINK_REQUIRE_POSTGRES=1) but {admin_url}: {reason}")
            }
            Err(reason) => {
                eprintln!(
                    "SKIPPED: no PostgreSQL at {admin_url} ({reason}); set FIELDLINK_TEST_POSTGRES to run"
                );
                None
            }
        }
    }

    async fn try_create(admin_url: &str) -> Result<Self, String> {
        let options: PgConnectOptions = admin_url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let mut admin = tokio::time::timeout(Duration::from_secs(5), options.connect())
            .await
            .map_err(|_| "connection timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let name = format!("fieldlink_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("CREATE DATABASE: {e}"))?;
        let _ = admin.close().await;
        let url = options.database(&name).to_url_lossy().to_string();
        Ok(Self {
            url,
            admin_url: admin_url.to_owned(),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime: use a thread with its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                let Ok(options) = admin_url.parse::<PgConnectOptions>() else {
                    return;
                };
                if let Ok(mut admin) = options.connect().await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropped.join();
    }
}
