//! Crash and restart under load: the server is killed with SIGKILL at
//! varied moments while terminals submit records and photos; after it
//! comes back each time, everything any terminal holds a receipt for is
//! stored, byte-exact, once.
//!
//! Each receipt is also checked the moment it arrives: a fresh connection to
//! the database must already find the item (a receipt sent before its
//! commit is durable would not be found, at least some of the time).
//!
//! CI runs 20 kills. The long run is
//! `FIELDLINK_CRASH_KILLS=300 cargo test -p fieldlink-server --test crash -- --nocapture`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldlink_client::{Client, PhotoUpload};

mod common;

use common::{blobs_named_by_content, free_addr, jpeg, spawn, terminal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_repeated_sigkills() {
    let kills: u64 = std::env::var("FIELDLINK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let data = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut server = spawn(data.path(), addr, &[]);

    // Receipts the terminals hold: item id → (server seq, sha256 hex).
    let receipts: Arc<Mutex<HashMap<String, (u64, String)>>> = Arc::default();
    // Receipts whose item a fresh connection did not find right away.
    let unreadable: Arc<Mutex<Vec<String>>> = Arc::default();
    let database = data.path().join("fieldlink.sqlite");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut terminals = Vec::new();
    for (index, (device, officer)) in [
        ("device-001", "officer-01"),
        ("device-002", "officer-02"),
        ("device-003", "officer-03"),
    ]
    .into_iter()
    .enumerate()
    {
        let client = Client::new(terminal(addr, device, officer)).unwrap();
        let (receipts, stop) = (receipts.clone(), stop.clone());
        let (unreadable, database) = (unreadable.clone(), database.clone());
        terminals.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let record =
                    fieldlink_protocol::inspection::example_record(officer, fieldlink_client::now_ms());
                if let Ok(receipt) = client.submit_inspection(&record).await {
                    if let Err(problem) = committed(&database, &receipt).await {
                        unreadable.lock().unwrap().push(problem);
                    }
                    receipts.lock().unwrap().insert(
                        receipt.item_id.clone(),
                        (receipt.server_seq, hex::encode(&receipt.sha256)),
                    );
                }
                sent += 1;
                if sent % 3 == 0 {
                    let bytes = jpeg(sent * 10 + index as u64);
                    let photo =
                        PhotoUpload::new(&record.id, "image/jpeg", fieldlink_client::now_ms() - 1000, bytes);
                    if let Ok(receipt) = client.upload_photo(&photo, |_| {}).await {
                        if let Err(problem) = committed(&database, &receipt).await {
                            unreadable.lock().unwrap().push(problem);
                        }
                        receipts.lock().unwrap().insert(
                            receipt.item_id.clone(),
                            (receipt.server_seq, hex::encode(&receipt.sha256)),
                        );
                    }
                }
            }
            client.close().await;
        }));
    }

    for kill in 0..kills {
        tokio::time::sleep(Duration::from_millis(150 + (kill * 97) % 600)).await;
        server.kill().unwrap();
        server.wait().unwrap();
        server = spawn(data.path(), addr, &[]);
    }
    // Let the terminals finish what they were doing against a live server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for terminal in terminals {
        tokio::time::timeout(Duration::from_secs(120), terminal)
            .await
            .expect("terminals finish")
            .unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let unreadable = unreadable.lock().unwrap().clone();
    assert!(
        unreadable.is_empty(),
        "receipts ahead of their commit: {unreadable:?}"
    );

    // Check the data directory as the server left it.
    let receipts = receipts.lock().unwrap().clone();
    assert!(
        receipts.len() >= 10,
        "only {} receipts: the test did little",
        receipts.len()
    );
    let url = format!("sqlite:{}", data.path().join("fieldlink.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as("SELECT item_id, seq, sha256 FROM items")
        .fetch_all(&pool)
        .await
        .unwrap();
    let stored: HashMap<String, (u64, String)> = rows
        .into_iter()
        .map(|(id, seq, sha)| (id, (seq as u64, hex::encode(sha))))
        .collect();
    for (id, receipt) in &receipts {
        assert_eq!(
            stored.get(id),
            Some(receipt),
            "acknowledged item {id} is missing or altered"
        );
    }
    let blob_count = blobs_named_by_content(data.path());
    println!(
        "crash test: {kills} kills, {} receipts, {} rows, {blob_count} blobs",
        receipts.len(),
        stored.len()
    );
    pool.close().await;
}

/// Whether a fresh connection to the database (no pool, nothing cached)
/// finds the receipt's item with its seq and digest.
async fn committed(
    database: &std::path::Path,
    receipt: &fieldlink_protocol::pb::Receipt,
) -> Result<(), String> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| format!("{}: cannot open the database: {e}", receipt.item_id))?;
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as("SELECT seq, sha256 FROM items WHERE item_id = ?")
        .bind(&receipt.item_id)
        .fetch_optional(&mut connection)
        .await
        .map_err(|e| format!("{}: {e}", receipt.item_id))?;
    let _ = connection.close().await;
    match row {
        Some((seq, sha256)) if seq as u64 == receipt.server_seq && sha256 == receipt.sha256 => Ok(()),
        Some(other) => Err(format!("{}: stored as {other:?}", receipt.item_id)),
        None => Err(format!("{}: not found right after its receipt", receipt.item_id)),
    }
}
