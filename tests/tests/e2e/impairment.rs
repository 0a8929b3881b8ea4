//! Lossy radio links, through the impairment proxy: everything arrives once
//! and intact. Short cases in CI; with `FIELDLINK_IMPAIRMENT_FULL=1` the
//! issue's matrix runs: 20 terminals × (5 records + 3 photos of 2 MiB) at
//! 5 % and 10 % loss with reordering, and at 30 % loss then lifted
//! (docs/operations.md).

use std::net::SocketAddr;
use std::time::Duration;

use fieldlink_client::{Client, PhotoUpload, RetryPolicy};
use fieldlink_tests::impairment::{Conditions, ImpairmentProxy};
use fieldlink_tests::photos;
use fieldlink_tests::{client_config, record, TestServer};
use sha2::{Digest, Sha256};

const DEVICES: [&str; 3] = ["device-001", "device-002", "device-003"];

/// (terminals, records, photos, photo bytes) for this run.
fn scale(short: (usize, usize, usize, usize)) -> (usize, usize, usize, usize) {
    if std::env::var_os("FIELDLINK_IMPAIRMENT_FULL").is_some() {
        (20, 5, 3, 2 * 1024 * 1024)
    } else {
        short
    }
}
const OFFICERS: [&str; 4] = ["officer-01", "officer-02", "officer-03", "officer-04"];

/// `terminals` terminals through `addr`, each submitting `records` records and
/// `photos` photos of `photo_bytes`; returns (item id, sha256) of every receipt.
async fn fleet(
    addr: SocketAddr,
    terminals: usize,
    records: usize,
    photo_count: usize,
    photo_bytes: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut tasks = Vec::new();
    for index in 0..terminals {
        let mut config = client_config(addr, DEVICES[index % 3], OFFICERS[index % 4]);
        config.connect_timeout = Duration::from_secs(20);
        config.request_timeout = Duration::from_secs(60);
        config.retry = RetryPolicy {
            attempts_max: 60,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
        };
        let officer = OFFICERS[index % 4];
        tasks.push(tokio::spawn(async move {
            let client = Client::new(config).unwrap();
            let mut receipts = Vec::new();
            for n in 0..records {
                let record = record(officer);
                let receipt = client
                    .submit_inspection(&record)
                    .await
                    .expect("record acknowledged");
                receipts.push((receipt.item_id, receipt.sha256));
                if n < photo_count {
                    let jpeg = photos::pad_jpeg(photos::jpeg(64, 48, (index * 10 + n) as u64), photo_bytes);
                    let photo = PhotoUpload::new(
                        &record.id,
                        "image/jpeg",
                        fieldlink_client::now_ms() - 1000,
                        jpeg.clone(),
                    );
                    let receipt = client
                        .upload_photo(&photo, |_| {})
                        .await
                        .expect("photo acknowledged");
                    assert_eq!(
                        receipt.sha256,
                        Sha256::digest(&jpeg).to_vec(),
                        "the photo arrived intact"
                    );
                    receipts.push((receipt.item_id, receipt.sha256));
                }
            }
            client.close().await;
            receipts
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(
            tokio::time::timeout(Duration::from_secs(300), task)
                .await
                .expect("the fleet finishes")
                .unwrap(),
        );
    }
    all
}

async fn assert_all_stored(server: &TestServer, receipts: &[(String, Vec<u8>)]) {
    let storage = &server.server.state().storage;
    for (id, sha256) in receipts {
        let stored = storage
            .item(uuid::Uuid::parse_str(id).unwrap())
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(&stored.receipt.sha256.to_vec(), sha256, "{id} altered");
    }
    assert_eq!(server.item_count().await, receipts.len() as u64, "no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_with_reordering_duplication_and_corruption_loses_nothing() {
    let server = TestServer::start().await;
    let proxy = ImpairmentProxy::start(
        server.addr(),
        Conditions {
            loss: 0.05,
            duplicate: 0.01,
            reorder: 0.05,
            reorder_delay: Duration::from_millis(20),
            corrupt: 0.005,
            ..Default::default()
        },
        42,
    )
    .await;
    let (terminals, records, photos, bytes) = scale((5, 5, 2, 512 * 1024));
    let receipts = fleet(proxy.addr(), terminals, records, photos, bytes).await;
    assert_eq!(receipts.len(), terminals * (records + photos));
    assert_all_stored(&server, &receipts).await;
    let [dropped, duplicated, reordered, _] = proxy.counts();
    assert!(
        dropped > 0 && duplicated > 0 && reordered > 0,
        "the link was impaired: {:?}",
        proxy.counts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_loss_and_a_blackhole_complete_once_lifted() {
    let server = TestServer::start().await;
    let proxy = ImpairmentProxy::start(
        server.addr(),
        Conditions {
            loss: 0.30,
            ..Default::default()
        },
        7,
    )
    .await;
    let addr = proxy.addr();
    let (terminals, records, photos, bytes) = scale((3, 3, 1, 256 * 1024));
    let work = tokio::spawn(async move { fleet(addr, terminals, records, photos, bytes).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(Conditions {
        blackhole: true,
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.set(Conditions::default());
    let receipts = work.await.unwrap();
    assert_eq!(receipts.len(), terminals * (records + photos));
    assert_all_stored(&server, &receipts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nat_rebinding_mid_upload_is_survived() {
    let server = TestServer::start().await;
    let proxy = ImpairmentProxy::start(server.addr(), Conditions::default(), 3).await;
    let addr = proxy.addr();
    let work = tokio::spawn(async move { fleet(addr, 2, 2, 2, 2 * 1024 * 1024).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.rebind().await;
    let receipts = work.await.unwrap();
    assert_eq!(receipts.len(), 2 * 4);
    assert_all_stored(&server, &receipts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_loss_with_reordering_loses_nothing() {
    let server = TestServer::start().await;
    let proxy = ImpairmentProxy::start(
        server.addr(),
        Conditions {
            loss: 0.10,
            reorder: 0.10,
            reorder_delay: Duration::from_millis(30),
            ..Default::default()
        },
        10,
    )
    .await;
    let (terminals, records, photos, bytes) = scale((3, 2, 1, 256 * 1024));
    let receipts = fleet(proxy.addr(), terminals, records, photos, bytes).await;
    assert_eq!(receipts.len(), terminals * (records + photos));
    assert_all_stored(&server, &receipts).await;
}
