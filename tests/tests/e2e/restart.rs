//! Durability across a server restart.

use fieldlink_tests::{connect, dev_config, record};

#[tokio::test]
async fn everything_acknowledged_survives_a_restart_and_resends_get_original_receipts() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = fieldlink_tests::start_server(dev_config(data_dir.path()))
        .await
        .unwrap();
    let client = connect(server.local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let mut sent = Vec::new();
    for _ in 0..25 {
        let record = record("officer-01");
        let receipt = client.submit_inspection(&record).await.unwrap();
        sent.push((record, receipt));
    }
    client.close().await;
    server.shutdown().await;

    let server = fieldlink_tests::start_server(dev_config(data_dir.path()))
        .await
        .unwrap();
    assert_eq!(server.state().storage.item_count().await.unwrap(), 25);
    let client = connect(server.local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    for (record, original) in &sent {
        let again = client.submit_inspection(record).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.server_seq, original.server_seq);
        assert_eq!(again.sha256, original.sha256);
    }
    // New items continue the sequence.
    let next = client.submit_inspection(&record("officer-01")).await.unwrap();
    assert!(sent.iter().all(|(_, r)| r.server_seq < next.server_seq));
    assert_eq!(server.state().storage.item_count().await.unwrap(), 26);
    server.shutdown().await;
}
