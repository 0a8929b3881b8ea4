//! The console's HTTP API under an OpenAPI-driven fuzzer: schemathesis (from
//! PyPI) reads the API description the server serves (`/api/openapi.json`,
//! which is docs/console-openapi.json), signs in as a supervisor (the session
//! cookie and the `X-CSRF-Token` header on every request), and sends valid
//! and invalid requests to every operation. Every answer must be no 5xx, a
//! status and content type the description lists, and a body matching its
//! schema; afterwards the server still answers and the evidence it held is
//! unchanged.
//!
//! Short and reproducible here (a fixed seed, a few examples an operation);
//! the long run is documented in docs/testing.md
//! (`FIELDLINK_API_FUZZ_EXAMPLES`, `FIELDLINK_API_FUZZ_SEED`).
//!
//! Needs schemathesis (`python3 -m pip install schemathesis`; `.ci/run`
//! installs it); skips with the reason printed otherwise, unless
//! FIELDLINK_REQUIRE_SCHEMATHESIS=1 (CI), when that is a failure.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{connect, photos, record};
use serde_json::json;

use crate::console::{report_alarm, send, sign_in, start, uuid7};

/// The schemathesis command line (`st`), or why it cannot run here.
fn schemathesis() -> Result<String, String> {
    let program = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    match std::process::Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(program),
        _ => Err(format!(
            "no schemathesis (`{program}`): python3 -m pip install schemathesis"
        )),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_api_holds_up_under_the_openapi_fuzzer() {
    let program = match schemathesis() {
        Ok(program) => program,
        Err(reason) => {
            if std::env::var("FIELDLINK_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1") {
                panic!("the API fuzzer is required (FIELDLINK_REQUIRE_SCHEMATHESIS=1): {reason}");
            }
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let (server, base) = start().await;

    // Something to find: an assignment, a record with a photo, a case.
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let assignment = json!({
        "id": uuid7(),
        "title": "巡查城南路 Patrol Chengnan Road",
        "matterCode": "ZJ-001",
        "area": "城南路沿线",
        "priority": "PRIORITY_URGENT",
        "officerId": "officer-01",
        "caseId": "CASE-FUZZ-1",
    });
    let (status, created) = send(console.post("/api/assignments", &assignment)).await;
    assert_eq!(status, 200, "{created}");
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut item = record("officer-01");
    item.case_id = "CASE-FUZZ-1".into();
    terminal.submit_inspection(&item).await.unwrap();
    let photo = PhotoUpload::new(
        &item.id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        photos::jpeg(320, 240, 3),
    );
    let photo_receipt = terminal.upload_photo(&photo, |_| {}).await.unwrap();
    let incident = report_alarm(&server, "LB-FUZZ", 29.87).await;
    let before = terminal.inclusion_proof(&item.id).await.unwrap();

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/api-fuzz");
    std::fs::create_dir_all(&artifacts).unwrap();
    let examples = env_or("FIELDLINK_API_FUZZ_EXAMPLES", "8");
    let seed = env_or("FIELDLINK_API_FUZZ_SEED", "20261202");
    let checks = env_or(
        "FIELDLINK_API_FUZZ_CHECKS",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,\
         response_headers_conformance,use_after_free,ensure_resource_availability,ignored_auth",
    );
    // Half the ids the fuzzer puts in paths are ones that exist, so the
    // operations behind a lookup are reached too.
    let known_ids = [
        created["assignment"]["id"].as_str().unwrap().to_owned(),
        item.id.clone(),
        photo_receipt.item_id.clone(),
        incident.clone(),
        "CASE-FUZZ-1".to_owned(),
    ];
    let config = artifacts.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[dictionaries.known]\nvalues = {}\n\n[parameters]\n\"path.id\" = {{ dictionary = \"known\", probability = 0.5 }}\n",
            serde_json::to_string(&known_ids).unwrap()
        ),
    )
    .unwrap();
    let mut command = tokio::process::Command::new(&program);
    command
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--url", &base])
        .args(["-H", &format!("Cookie: {}", console.cookie)])
        .args(["-H", &format!("X-CSRF-Token: {}", console.csrf)])
        .args(["-H", &format!("Origin: {base}")])
        .args(["--checks", &checks])
        // The event stream never ends; signing out (the one DELETE) would end
        // the run's session.
        .args(["--exclude-path", "/api/events"])
        .args(["--exclude-method", "DELETE"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--workers", "1"])
        .args(["--request-timeout", "60"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "junit"])
        .args(["--report-dir", artifacts.to_str().unwrap()])
        .args(["--output-truncate", "false"])
        .env("NO_COLOR", "1")
        // Its cache goes with the artifacts, not into the source tree.
        .current_dir(&artifacts)
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if seed != "random" {
        command.args(["--seed", &seed]);
    }
    let output = tokio::time::timeout(Duration::from_secs(1_200), command.output())
        .await
        .expect("the fuzzer finishes within 20 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::write(artifacts.join("output.txt"), stdout.as_bytes()).unwrap();
    assert!(
        output.status.success(),
        "schemathesis found problems (target/test-artifacts/api-fuzz):\n{stdout}\n{stderr}"
    );
    // It really ran requests against the API.
    assert!(stdout.contains("passed"), "{stdout}");

    // The server still answers, and what it held is still there.
    let (status, _) = send(console.http.get(format!("{base}/healthz"))).await;
    assert_eq!(status, 200);
    let (status, case) = send(console.get("/api/cases/CASE-FUZZ-1")).await;
    assert_eq!(status, 200, "{case}");
    assert!(case.to_string().contains(&item.id), "{case}");
    // The item's proof still verifies, against a checkpoint that extends
    // the one verified before the run (the client checks consistency).
    let after = terminal.inclusion_proof(&item.id).await.unwrap();
    assert_eq!(after.leaf_index, before.leaf_index);
    assert!(after.checkpoint.size >= before.checkpoint.size);
}
