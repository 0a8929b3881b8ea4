//! The library from Python through ctypes (tests/python/terminal.py): the
//! same C ABI an app in any language with a C FFI would call.

mod common;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_submits_uploads_and_takes_its_assignment_through_ctypes() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    // A machine with only Rust may have no Python: skipped, saying so,
    // unless FIELDLINK_REQUIRE_PYTHON=1 (CI) makes that a failure.
    if let Err(error) = Command::new(&python).arg("--version").output() {
        if std::env::var("FIELDLINK_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
            panic!("the ctypes test is required (FIELDLINK_REQUIRE_PYTHON=1): {python}: {error}");
        }
        eprintln!("SKIPPED: no {python} to run the ctypes test ({error})");
        return;
    }
    let setup = common::Setup::start().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/terminal.py");
    let library = common::library_dir().join("libfieldlink_client_ffi.so");
    let args = [
        script,
        library,
        setup.path("config.json"),
        setup.path("record.bin"),
        setup.path("photo.jpg"),
    ];
    let run = tokio::task::spawn_blocking(move || Command::new(&python).args(&args).output())
        .await
        .expect("join")
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "the Python program failed ({:?}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let out = common::lines(&run.stdout);
    assert!(out["record_seq"].parse::<u64>().unwrap() > 0);
    assert!(setup.stored(&out["record_id"]).await, "record stored");
    assert_eq!(out["garbage_status"], "1", "FL_STATUS_INVALID_ARGUMENT");
    assert_eq!(
        out["auth_status"], "4",
        "FL_STATUS_AUTHENTICATION for a wrong password"
    );
    assert!(out["photo_seq"].parse::<u64>().unwrap() > out["record_seq"].parse::<u64>().unwrap());
    assert_eq!(out["progress_last"], format!("{0}/{0}", setup.jpeg.len()));
    assert_eq!(
        out["tcp_record_seq"], out["record_seq"],
        "the resend over TCP has the original receipt"
    );
    assert_eq!(out["bad_transport_status"], "2", "FL_STATUS_CONFIG");
    let event = common::Setup::event(&out["event_hex"]);
    assert_eq!(event.assignment.unwrap().id, setup.assignment_id);
}
