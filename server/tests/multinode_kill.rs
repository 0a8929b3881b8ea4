//! Two server nodes (child processes) share one PostgreSQL database and one
//! evidence directory; terminals know both addresses. Node A is killed with
//! SIGKILL mid-load: its terminals carry on with node B (in-flight uploads
//! resume there from what A made durable), and everything any terminal
//! holds a receipt for is stored, byte-exact, once.
//! Needs PostgreSQL; skips (saying so) without one; CI requires it.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{blobs_named_by_content, free_addr, jpeg, spawn, terminal};
use fieldlink_client::{Client, PhotoUpload};
#[path = "../src/storage/scratch_pg.rs"]
mod scratch_pg;

use scratch_pg::ScratchDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_load_loses_nothing_and_its_terminals_move_on() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (a, b) = (free_addr(), free_addr());
    let flags = ["--database", database.url.as_str()];
    let mut node_a = spawn(data.path(), a, &flags);
    let mut node_b = spawn(data.path(), b, &flags);

    let receipts: Arc<Mutex<HashMap<String, (u64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut terminals = Vec::new();
    for (index, (device, officer)) in [
        ("device-001", "officer-01"),
        ("device-002", "officer-02"),
        ("device-003", "officer-03"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut config = terminal(a, device, officer);
        config.fallback_addrs = vec![b];
        let client = Client::new(config).unwrap();
        let (receipts, stop) = (receipts.clone(), stop.clone());
        terminals.push(tokio::spawn(async move {
            let mut sent = 0u64;
            // Bounded by `stop` and 2,000 records.
            while !stop.load(Ordering::Relaxed) && sent < 2_000 {
                let record =
                    fieldlink_protocol::inspection::example_record(officer, fieldlink_client::now_ms());
                if let Ok(receipt) = client.submit_inspection(&record).await {
                    receipts.lock().unwrap().insert(
                        receipt.item_id.clone(),
                        (receipt.server_seq, hex::encode(&receipt.sha256)),
                    );
                }
                sent += 1;
                if sent % 3 == 0 {
                    let photo = PhotoUpload::new(
                        &record.id,
                        "image/jpeg",
                        fieldlink_client::now_ms() - 1000,
                        jpeg(sent * 10 + index as u64),
                    );
                    if let Ok(receipt) = client.upload_photo(&photo, |_| {}).await {
                        receipts.lock().unwrap().insert(
                            receipt.item_id.clone(),
                            (receipt.server_seq, hex::encode(&receipt.sha256)),
                        );
                    }
                }
            }
            let address = client.connected_addr().await;
            client.close().await;
            address
        }));
    }
    // Let the fleet work on A, then kill A without warning.
    for _ in 0..600 {
        if receipts.lock().unwrap().len() >= 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before_kill = receipts.lock().unwrap().len();
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    // The terminals carry on against B until they have as many again.
    for _ in 0..1200 {
        if receipts.lock().unwrap().len() >= before_kill + 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in terminals {
        let address = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("terminals finish")
            .unwrap();
        assert_eq!(address, Some(b), "the terminal moved to node B");
    }
    node_b.kill().unwrap();
    node_b.wait().unwrap();

    let receipts = receipts.lock().unwrap().clone();
    assert!(
        receipts.len() >= before_kill + 15,
        "{} receipts, {before_kill} before the kill",
        receipts.len()
    );
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
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
    let blobs = blobs_named_by_content(data.path());
    println!(
        "multi-node kill: {} receipts ({before_kill} before A was killed), {} rows, {blobs} blobs",
        receipts.len(),
        stored.len()
    );
    pool.close().await;
}
