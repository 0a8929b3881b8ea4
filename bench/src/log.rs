//! Scenario 7, the transparency log: what writing leaves costs a commit, and
//! what a proof costs in a large log.
//!
//! Cost: records committed in batches of 100 (what group commit does under
//! load) into two SQLite files on the same disk with the production
//! durability, one writing the log and one not (a storage built for this
//! benchmark only), interleaved A B A B in the same rounds. Proofs: a log of
//! `leaves` records built through the same commit path, then inclusion
//! proofs of random leaves served from the stored subtree hashes, beside one
//! primary-key read of an item from the same database.

use std::sync::Arc;
use std::time::Instant;

use fieldlink_server::storage::sqlite::SqliteStorage;
use fieldlink_server::storage::{ItemIndex, ItemKind, ItemStore, LogStore, NewItem, Storage};
use prost::Message;
use rand::Rng;
use sha2::Digest;

use crate::report::Figure;
use crate::stats::{median, percentile};

/// How to run the scenario.
pub struct Plan {
    /// Rounds of the cost comparison (medians are taken over them).
    pub rounds: usize,
    /// Batches of 100 records per storage per round.
    pub batches_per_round: usize,
    /// Leaves in the log the proofs are taken from.
    pub leaves: u64,
    /// Proofs timed.
    pub proofs: usize,
}

const BATCH: usize = 100;
/// Records per commit while building the large log.
const FILL_BATCH: usize = 5_000;

fn records(count: usize) -> Vec<NewItem> {
    (0..count)
        .map(|_| {
            let record = fieldlink_tests::record("officer-01");
            let body = record.encode_to_vec();
            NewItem {
                item_id: uuid::Uuid::parse_str(&record.id).unwrap_or_else(|_| uuid::Uuid::now_v7()),
                kind: ItemKind::Inspection,
                device_id: "device-001".into(),
                officer_id: "officer-01".into(),
                case_id: None,
                sha256: sha2::Sha256::digest(&body).into(),
                body,
                capture: None,
                index: ItemIndex::Inspection {
                    matter_code: record.matter_code,
                    outcome: record.outcome,
                    started_at_ms: record.started_at_ms,
                    latitude: 29.8683,
                    longitude: 121.544,
                    assignment_id: None,
                    officer_ids: record.officer_ids,
                    photo_ids: vec![],
                },
            }
        })
        .collect()
}

async fn records_per_s(storage: &dyn Storage, batches: usize) -> Result<f64, String> {
    let prepared: Vec<Vec<NewItem>> = (0..batches).map(|_| records(BATCH)).collect();
    let started = Instant::now();
    for batch in &prepared {
        storage.commit_items(batch, 1).await.map_err(|e| e.to_string())?;
    }
    Ok((batches * BATCH) as f64 / started.elapsed().as_secs_f64())
}

/// Runs scenario 7.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let open = |name: &str| {
        let path = dir.path().join(name);
        async move { SqliteStorage::open(&path).await.map_err(|e| e.to_string()) }
    };
    let with: Arc<dyn Storage> = Arc::new(open("with-log.sqlite").await?);
    let without: Arc<dyn Storage> = Arc::new(open("without-log.sqlite").await?.without_log_for_benchmarks());
    let (mut logged, mut unlogged) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        // Alternate which goes first: the disk drifts.
        if round % 2 == 0 {
            logged.push(records_per_s(with.as_ref(), plan.batches_per_round).await?);
            unlogged.push(records_per_s(without.as_ref(), plan.batches_per_round).await?);
        } else {
            unlogged.push(records_per_s(without.as_ref(), plan.batches_per_round).await?);
            logged.push(records_per_s(with.as_ref(), plan.batches_per_round).await?);
        }
    }
    let (logged, unlogged) = (median(&logged), median(&unlogged));
    let mut figures = vec![
        Figure::plain("log", "records/s, batches of 100, with the log", logged, "/s")
            .against("the same commits without the log", unlogged)
            .goal("under 10 % lost to the log", logged >= 0.9 * unlogged),
    ];

    // The large log.
    let large = open("large.sqlite").await?;
    let started = Instant::now();
    let mut ids = Vec::new();
    let mut filled = 0;
    while filled < plan.leaves {
        let count = FILL_BATCH.min((plan.leaves - filled) as usize);
        let batch = records(count);
        if ids.len() < 1_000 {
            ids.push(batch[0].item_id);
        }
        large.commit_items(&batch, 1).await.map_err(|e| e.to_string())?;
        filled += count as u64;
    }
    let fill_s = started.elapsed().as_secs_f64();
    figures.push(Figure::plain(
        "log",
        &format!("building a log of {} leaves", plan.leaves),
        plan.leaves as f64 / fill_s,
        "/s",
    ));
    let size = large.log_size().await.map_err(|e| e.to_string())?;
    let root = fieldlink_server::transparency::root_at(&large, size)
        .await
        .map_err(|e| e.to_string())?;
    let head = fieldlink_protocol::log::Checkpoint {
        origin: "bench".into(),
        size,
        root,
        note: String::new(),
    };
    let mut rng = rand::thread_rng();
    let (mut proof_ms, mut read_ms) = (Vec::new(), Vec::new());
    for _ in 0..plan.proofs {
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let proof = fieldlink_server::transparency::inclusion_proof(&large, index, size)
            .await
            .map_err(|e| e.to_string())?;
        proof_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let id = ids[rng.gen_range(0..ids.len())];
        let started = Instant::now();
        large.item(id).await.map_err(|e| e.to_string())?;
        read_ms.push(started.elapsed().as_secs_f64() * 1e3);
        if proof_ms.len() <= 10 {
            let leaf = large
                .log_leaves(index, 1)
                .await
                .map_err(|e| e.to_string())?
                .pop()
                .ok_or("a leaf is missing")?
                .1;
            let hashes: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
            fieldlink_protocol::log::verify_inclusion(&leaf, index, &hashes, &head)
                .map_err(|e| e.to_string())?;
        }
    }
    let read_p50 = percentile(&mut read_ms.clone(), 50.0);
    figures.push(
        Figure::plain(
            "log",
            &format!("inclusion proof at {size} leaves, p50"),
            percentile(&mut proof_ms.clone(), 50.0),
            "ms",
        )
        .against("one primary-key item read, p50", read_p50),
    );
    figures.push(
        Figure::plain(
            "log",
            &format!("inclusion proof at {size} leaves, p99"),
            percentile(&mut proof_ms, 99.0),
            "ms",
        )
        .against("one primary-key item read, p99", percentile(&mut read_ms, 99.0)),
    );
    Ok(figures)
}
