//! A C program built by this test with the system's C compiler against
//! include/fieldlink.h and the shared library: connects to a real server on
//! loopback, submits a record (and resends it), is refused garbage with
//! typed codes, uploads a JPEG with progress callbacks, takes a dispatched
//! assignment from the feed, and sends a record through the outbox.

mod common;

use std::process::Command;

use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_terminal_submits_uploads_takes_its_assignment_and_drains_its_outbox() {
    let setup = common::Setup::start().await;
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = common::library_dir();
    let program = setup.path("terminal");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&compiler)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("tests/c/terminal.c"))
        .arg("-L")
        .arg(&library)
        .arg("-lfieldlink_client_ffi")
        .arg(format!("-Wl,-rpath,{}", library.display()))
        .arg("-o")
        .arg(&program)
        .output()
        .expect("run the C compiler");
    assert!(
        built.status.success(),
        "{compiler} failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let args = [
        "config.json",
        "record.bin",
        "photo.jpg",
        "record2.bin",
        "outbox.db",
    ]
    .map(|f| setup.path(f));
    let run = tokio::task::spawn_blocking(move || {
        // cargo test's LD_LIBRARY_PATH names target/<profile>/ first, where
        // an older copy of the library may lie: the program's own rpath only.
        Command::new(&program)
            .args(&args)
            .env_remove("LD_LIBRARY_PATH")
            .output()
    })
    .await
    .expect("join")
    .expect("run the C program");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "the C program failed ({:?}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let out = common::lines(&run.stdout);
    assert_eq!(out["version"], env!("CARGO_PKG_VERSION"));
    assert!(out["bad_config"].contains("config JSON"), "{stdout}");
    assert!(out["garbage"].contains("InspectionRecord"), "{stdout}");
    // The record is stored; its resend got the same receipt.
    let seq: u64 = out["record_seq"].parse().unwrap();
    assert!(seq > 0);
    assert_eq!(out["resend_seq"], out["record_seq"]);
    assert_eq!(out["resend_replayed"], "1");
    assert!(setup.stored(&out["record_id"]).await, "record stored");
    // The photo: stored with the file's digest, progress reported to its end.
    assert_eq!(out["photo_sha256"], hex::encode(Sha256::digest(&setup.jpeg)));
    assert!(out["progress_calls"].parse::<u32>().unwrap() >= 1, "{stdout}");
    let size = setup.jpeg.len();
    assert_eq!(out["progress_last"], format!("{size}/{size}"));
    // The position reached the console's board; the bad one was refused locally.
    assert_eq!(out["position_reason"], "INVALID_FIELD");
    let board = &setup.server.server.state().positions;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while board.latest().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the position never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(board.latest()[0].officer_id, "officer-01");
    // The feed handed over the dispatched assignment.
    let event = common::Setup::event(&out["event_hex"]);
    assert_eq!(event.assignment.unwrap().id, setup.assignment_id);
    // The outbox sent its record.
    assert_eq!(out["settled"], "1");
    assert!(
        out["outbox"].contains(&out["queued_id"]) && out["outbox"].contains("acknowledged"),
        "{stdout}"
    );
    assert!(setup.stored(&out["queued_id"]).await, "outbox record stored");
    assert_eq!(out["done"], "1");
}
