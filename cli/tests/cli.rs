//! The `fieldlink` binary against a real server: example → submit → receipt.

use std::process::Command;

fn fieldlink(server: std::net::SocketAddr, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fieldlink"))
        .args(["--dev", "--server", &server.to_string()])
        .args(args)
        .output()
        .expect("run fieldlink")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_then_submit_prints_a_receipt_and_refusals_exit_non_zero() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server(data.path()).await;
    let addr = server.local_addr();

    let example = tokio::task::spawn_blocking(move || fieldlink(addr, &["example", "inspection"]))
        .await
        .unwrap();
    assert!(
        example.status.success(),
        "{}",
        String::from_utf8_lossy(&example.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&example.stdout).unwrap();
    assert_eq!(record["matterCode"], "ZJ-001");
    let file = data.path().join("record.json");
    std::fs::write(&file, &example.stdout).unwrap();

    let path = file.to_str().unwrap().to_owned();
    let submit = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || fieldlink(addr, &["submit", "inspection", &path]))
            .await
            .unwrap()
    };
    assert!(
        submit.status.success(),
        "{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let stdout = String::from_utf8(submit.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout}");
    let receipt: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(receipt["id"], record["id"]);
    assert!(receipt["server_seq"].as_u64().unwrap() >= 1);
    assert_eq!(receipt["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(receipt["replayed"], false);
    assert_eq!(server.state().storage.item_count().await.unwrap(), 1);

    // The same file again: the original receipt.
    let again = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || fieldlink(addr, &["submit", "inspection", &path]))
            .await
            .unwrap()
    };
    let replay: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(replay["server_seq"], receipt["server_seq"]);
    assert_eq!(replay["replayed"], true);

    // A refused record: typed error on stderr, non-zero exit, nothing stored.
    let mut bad = record.clone();
    bad["id"] = serde_json::Value::String(uuid::Uuid::now_v7().to_string());
    bad["place"]["latitude"] = serde_json::json!(123.0);
    let bad_file = data.path().join("bad.json");
    std::fs::write(&bad_file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let bad_path = bad_file.to_str().unwrap().to_owned();
    let refused = tokio::task::spawn_blocking(move || fieldlink(addr, &["submit", "inspection", &bad_path]))
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("INVALID_ARGUMENT") && stderr.contains("place.latitude"),
        "{stderr}"
    );
    assert_eq!(server.state().storage.item_count().await.unwrap(), 1);

    // A file that is not a record: usage error, exit 2.
    std::fs::write(&bad_file, b"{ not json").unwrap();
    let bad_path = bad_file.to_str().unwrap().to_owned();
    let unusable = tokio::task::spawn_blocking(move || fieldlink(addr, &["submit", "inspection", &bad_path]))
        .await
        .unwrap();
    assert_eq!(unusable.status.code(), Some(2));

    // The record's inclusion proof in the transparency log, verified.
    let id = receipt["id"].as_str().unwrap().to_owned();
    let proof = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || fieldlink(addr, &["proof", &id]))
            .await
            .unwrap()
    };
    assert!(
        proof.status.success(),
        "{}",
        String::from_utf8_lossy(&proof.stderr)
    );
    let proof: serde_json::Value = serde_json::from_slice(&proof.stdout).unwrap();
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["item_id"], receipt["id"]);
    assert_eq!(proof["leaf_index"], receipt["leaf_index"]);
    assert_eq!(proof["sha256"], receipt["sha256"]);
    assert_eq!(proof["sm3"], receipt["sm3"]);
    assert_eq!(proof["checkpoint"]["origin"], "fieldlink.local/evidence");
    // Trusting another key: the checkpoint does not verify, exit 1.
    let other_key = data.path().join("other.pub");
    std::fs::write(
        &other_key,
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    )
    .unwrap();
    let other_key = other_key.to_str().unwrap().to_owned();
    let untrusted =
        tokio::task::spawn_blocking(move || fieldlink(addr, &["--log-key", &other_key, "proof", &id]))
            .await
            .unwrap();
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("does not verify"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_upload_prints_a_receipt_with_both_digests_and_flags() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server(data.path()).await;
    let addr = server.local_addr();
    // A real JPEG without EXIF: accepted and flagged EXIF_UNREADABLE.
    let image = image::RgbImage::from_fn(120, 80, |x, y| image::Rgb([x as u8, y as u8, 9]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .unwrap();
    let file = data.path().join("photo.jpg");
    std::fs::write(&file, &jpeg).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let record = uuid::Uuid::now_v7().to_string();
    let output = tokio::task::spawn_blocking(move || {
        fieldlink(addr, &["photo", "upload", &path, "--record", &record])
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let receipt: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(receipt["size"], jpeg.len());
    assert_eq!(receipt["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(receipt["sm3"].as_str().unwrap().len(), 64);
    assert_eq!(
        receipt["flags"],
        serde_json::json!(["EVIDENCE_FLAG_EXIF_UNREADABLE"])
    );
    // Not a terminal: no progress bar on stderr.
    assert!(!String::from_utf8_lossy(&output.stderr).contains('%'));

    // A file that is not an image is refused before connecting.
    std::fs::write(&file, b"plain text").unwrap();
    let path = file.to_str().unwrap().to_owned();
    let output =
        tokio::task::spawn_blocking(move || fieldlink(addr, &["photo", "upload", &path, "--record", "x"]))
            .await
            .unwrap();
    assert_eq!(output.status.code(), Some(2));
    // `media upload` is the same command; it must name what the photo proves.
    let jpeg = fieldlink_cli::photos::jpeg(64, 48, 5);
    std::fs::write(&file, &jpeg).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || fieldlink(addr, &["media", "upload", &path]))
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "no --record/--service/--interview/--report"
    );
    let path = file.to_str().unwrap().to_owned();
    let service = uuid::Uuid::now_v7().to_string();
    let output = tokio::task::spawn_blocking(move || {
        fieldlink(addr, &["media", "upload", &path, "--service", &service])
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A video, a recording and the served document (real files made by
    // ffmpeg and qpdf): the type is read from their first bytes.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../media/tests/fixtures");
    for (name, interview) in [
        ("video-h265.mov", true),
        ("audio.mp3", true),
        ("document.pdf", false),
    ] {
        let bytes = std::fs::read(fixtures.join(name)).unwrap();
        let path = fixtures.join(name).to_str().unwrap().to_owned();
        let target = uuid::Uuid::now_v7().to_string();
        let flag = if interview { "--interview" } else { "--service" };
        let output =
            tokio::task::spawn_blocking(move || fieldlink(addr, &["media", "upload", &path, flag, &target]))
                .await
                .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let receipt: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(receipt["size"], bytes.len(), "{name}");
        assert_eq!(
            receipt["sha256"].as_str().unwrap(),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            "{name}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_and_interview_examples_submit_and_the_case_shows_them() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server(data.path()).await;
    let addr = server.local_addr();
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            fieldlink(addr, &args)
        })
        .await
        .unwrap()
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut ids = Vec::new();
    for kind in ["service", "interview"] {
        let example = run(args(&["example", kind, "--case", "CASE-CLI-1"])).await;
        assert!(
            example.status.success(),
            "{}",
            String::from_utf8_lossy(&example.stderr)
        );
        let file = data.path().join(format!("{kind}.json"));
        std::fs::write(&file, &example.stdout).unwrap();
        let submit = run(args(&["submit", kind, file.to_str().unwrap()])).await;
        assert!(
            submit.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&submit.stderr)
        );
        let receipt: serde_json::Value = serde_json::from_slice(&submit.stdout).unwrap();
        ids.push(receipt["id"].as_str().unwrap().to_owned());
    }
    // The service is delivered already in the example; confirm it.
    let event = run(args(&[
        "example",
        "service-event",
        "--service",
        &ids[0],
        "--kind",
        "confirmed",
    ]))
    .await;
    let file = data.path().join("event.json");
    std::fs::write(&file, &event.stdout).unwrap();
    let submit = run(args(&["submit", "service-event", file.to_str().unwrap()])).await;
    assert!(
        submit.status.success(),
        "{}",
        String::from_utf8_lossy(&submit.stderr)
    );

    let show = run(args(&["case", "show", "CASE-CLI-1"])).await;
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(show.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let service = lines.iter().find(|l| l["kind"] == "service").unwrap();
    assert_eq!(service["id"], ids[0].as_str());
    assert_eq!(service["service_state"], "SERVICE_STATE_CONFIRMED");
    assert!(lines
        .iter()
        .any(|l| l["kind"] == "interview" && l["id"] == ids[1].as_str()));

    // The case exported, then verified offline by `fieldlink verify`.
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev");
    let config = fieldlink_server::Config {
        dev: true,
        data_dir: data.path().to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(&certs)),
        ..Default::default()
    };
    let package = data.path().join("case.tar");
    let exported = fieldlink_server::export::export_data(&config, "CASE-CLI-1", "clerk", &package)
        .await
        .unwrap();
    assert_eq!(exported.items, 3);
    let package_arg = package.to_str().unwrap().to_owned();
    let verify = run(args(&["verify", &package_arg])).await;
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["items"], 3);
    assert_eq!(summary["log_key_trusted"], true);
    // Against another log's key: exit 1, naming the failed checks.
    let (_, other) = fieldlink_server::transparency::generate_key("other-log");
    let other_key = data.path().join("other.pub");
    std::fs::write(&other_key, other).unwrap();
    let other_arg = other_key.to_str().unwrap().to_owned();
    let refused = run(args(&["--log-key", &other_arg, "verify", &package_arg])).await;
    assert_eq!(refused.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(summary["ok"], false);
    let checks: Vec<&str> = summary["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["log_key", "checkpoint"], "{summary}");
    // Not a file: a usage error.
    let missing = run(args(&["verify", "/nonexistent/case.tar"])).await;
    assert_eq!(missing.status.code(), Some(2));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_dispatches_and_an_officer_watches_and_accepts_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server(data.path()).await;
    let addr = server.local_addr();
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            fieldlink(addr, &args)
        })
        .await
        .unwrap()
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let example = run(args(&["example", "assignment", "--to", "officer-01"])).await;
    let file = data.path().join("assignment.json");
    std::fs::write(&file, &example.stdout).unwrap();
    let created = run(args(&["dispatch", "create", file.to_str().unwrap()])).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let id = created["assignment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["assignment"]["createdBy"], "supervisor-01");

    // An officer cannot dispatch.
    let refused = run(args(&[
        "--officer",
        "officer-01",
        "dispatch",
        "create",
        file.to_str().unwrap(),
    ]))
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("PERMISSION_DENIED"));

    let watched = run(args(&["assignments", "watch", "--count", "1"])).await;
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let event: serde_json::Value = serde_json::from_slice(&watched.stdout).unwrap();
    assert_eq!(event["kind"], "ASSIGNMENT_EVENT_KIND_CREATED");
    assert_eq!(event["assignment"]["id"], id.as_str());

    let accepted = run(args(&["assignments", "accept", &id])).await;
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let listed = run(args(&["dispatch", "list", "--state", "accepted"])).await;
    let lines: Vec<serde_json::Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["acceptedBy"], "officer-01");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_is_triaged_worked_reviewed_and_closed_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server_with(data.path(), |config| {
        config.hj212 = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = server.local_addr();
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            fieldlink(addr, &args)
        })
        .await
        .unwrap()
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let json = |output: &std::process::Output| -> serde_json::Value {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    // Two monitors 700 m apart exceed their limit: two incidents.
    let hj212 = server.hj212_addr().expect("the HJ 212 listener runs").to_string();
    for mn in ["LB330201000000000000001A", "LB330201000000000000003C"] {
        let sent = json(
            &run(args(&[
                "monitor",
                "send",
                "--hj212",
                &hj212,
                "--mn",
                mn,
                "--values",
                "2.6,2.9,3.1",
            ]))
            .await,
        );
        assert_eq!(
            (sent["sent"].as_u64(), sent["answered"].as_u64()),
            (Some(3), Some(3)),
            "{sent}"
        );
    }
    let wrong = run(args(&[
        "monitor", "send", "--hj212", &hj212, "--mn", "NOBODY", "--values", "1",
    ]))
    .await;
    assert!(!wrong.status.success(), "an unknown monitor is refused");
    let listed = run(args(&["incidents", "list", "--state", "new"])).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let ids: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2);
    // Newest first: the barbecue's incident, then the noodle house's.
    let (second, first) = (ids[0].clone(), ids[1].clone());

    let dismissed = json(
        &run(args(&[
            "incidents",
            "dismiss",
            &second,
            "--reason",
            "误报 false alarm",
        ]))
        .await,
    );
    assert_eq!(dismissed["incident"]["state"], "INCIDENT_STATE_DISMISSED");
    let refused = run(args(&["incidents", "dismiss", &second, "--reason", "again"])).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("FAILED_PRECONDITION"));

    let dispatched = json(&run(args(&["incidents", "dispatch", &first, "--instructions", "核查"])).await);
    assert_eq!(dispatched["incident"]["state"], "INCIDENT_STATE_DISPATCHED");
    let assignment = dispatched["incident"]["assignmentId"]
        .as_str()
        .unwrap()
        .to_owned();

    // The officer works it with a record made for it.
    for step in ["accept", "on-site"] {
        json(&run(args(&["assignments", step, &assignment])).await);
    }
    let example = json(&run(args(&["example", "inspection"])).await);
    let mut record = example.clone();
    record["assignmentId"] = serde_json::Value::String(assignment.clone());
    let file = data.path().join("record.json");
    std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    json(&run(args(&["submit", "inspection", file.to_str().unwrap()])).await);
    let record_id = record["id"].as_str().unwrap().to_owned();
    let completed = json(
        &run(args(&[
            "assignments",
            "complete",
            &assignment,
            "--records",
            &record_id,
        ]))
        .await,
    );
    assert_eq!(
        completed["assignment"]["state"],
        "ASSIGNMENT_STATE_PENDING_REVIEW"
    );

    // Returning needs a reason; then approve.
    let refused = run(args(&["dispatch", "review", &assignment, "return"])).await;
    assert!(!refused.status.success());
    let approved = json(&run(args(&["dispatch", "review", &assignment, "approve"])).await);
    assert_eq!(approved["assignment"]["state"], "ASSIGNMENT_STATE_COMPLETED");
    let shown = json(&run(args(&["incidents", "show", &first])).await);
    assert_eq!(shown["incident"]["state"], "INCIDENT_STATE_CLOSED");
    assert_eq!(shown["events"].as_array().unwrap().len(), 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_worker_reports_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server(data.path()).await;
    let addr = server.local_addr();
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            fieldlink(addr, &args)
        })
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let example = run(args(&["example", "grid-report"])).await.unwrap();
    assert!(example.status.success());
    let file = data.path().join("report.json");
    std::fs::write(&file, &example.stdout).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let submitted = run(args(&["--officer", "grid-01", "submit", "grid-report", &path]))
        .await
        .unwrap();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let receipt: serde_json::Value = serde_json::from_slice(&submitted.stdout).unwrap();
    assert_eq!(receipt["replayed"], false);
    // An officer is not a grid worker.
    let refused = run(args(&["submit", "grid-report", &path])).await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("PERMISSION_DENIED"));
    let listed = run(args(&["incidents", "list"])).await.unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["category"], "illegal_dumping");
    let incident = lines[0]["id"].as_str().unwrap().to_owned();

    // A second report at the same place joins; the supervisor splits it off
    // and dismisses it; the grid worker's list shows both outcomes.
    let example = run(args(&["example", "grid-report"])).await.unwrap();
    let second: serde_json::Value = serde_json::from_slice(&example.stdout).unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    std::fs::write(&file, &example.stdout).unwrap();
    let submitted = run(args(&["--officer", "grid-01", "submit", "grid-report", &path]))
        .await
        .unwrap();
    assert!(submitted.status.success());
    let split = run(args(&[
        "incidents",
        "split",
        &incident,
        "--items",
        &second_id,
        "--reason",
        "另一处 elsewhere",
    ]))
    .await
    .unwrap();
    assert!(
        split.status.success(),
        "{}",
        String::from_utf8_lossy(&split.stderr)
    );
    let made: serde_json::Value = serde_json::from_slice(&split.stdout).unwrap();
    let new_incident = made["incident"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_incident, incident);
    assert_eq!(made["sources"][0]["itemId"], second_id.as_str());
    let dismissed = run(args(&[
        "incidents",
        "dismiss",
        &new_incident,
        "--reason",
        "已自行清理 cleared",
    ]))
    .await
    .unwrap();
    assert!(dismissed.status.success());
    let mine = run(args(&["--officer", "grid-01", "incidents", "mine"]))
        .await
        .unwrap();
    assert!(mine.status.success(), "{}", String::from_utf8_lossy(&mine.stderr));
    let reports: Vec<serde_json::Value> = String::from_utf8(mine.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["reportId"], second_id.as_str());
    assert_eq!(reports[0]["state"], "INCIDENT_STATE_DISMISSED");
    assert_eq!(reports[0]["reason"], "已自行清理 cleared");
    assert_eq!(reports[1]["state"], "INCIDENT_STATE_NEW");
    // Splitting needs the items; a missing flag is a usage error.
    let usage = run(args(&["incidents", "split", &incident])).await.unwrap();
    assert!(!usage.status.success());
    server.shutdown().await;
}

/// Starts a dev server in `data` on a free loopback port.
async fn dev_server(data: &std::path::Path) -> fieldlink_server::RunningServer {
    dev_server_with(data, |_| {}).await
}

/// [`dev_server`] with more of the configuration set by `adjust`.
async fn dev_server_with(
    data: &std::path::Path,
    adjust: impl FnOnce(&mut fieldlink_server::Config),
) -> fieldlink_server::RunningServer {
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev");
    let mut config = fieldlink_server::Config {
        dev: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(&certs)),
        ..Default::default()
    };
    adjust(&mut config);
    fieldlink_server::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_drained_by_a_process_killed_again_and_again_delivers_everything_once() {
    use sha2::{Digest, Sha256};
    let data = tempfile::tempdir().unwrap();
    let server = dev_server(data.path()).await;
    let addr = server.local_addr();
    let db = data.path().join("terminal.sqlite");
    let db_arg = db.to_str().unwrap().to_owned();
    let enqueue = {
        let db_arg = db_arg.clone();
        tokio::task::spawn_blocking(move || {
            fieldlink(
                addr,
                &[
                    "outbox",
                    "--db",
                    &db_arg,
                    "enqueue-demo",
                    "--records",
                    "30",
                    "--photos-per-record",
                    "1",
                ],
            )
        })
        .await
        .unwrap()
    };
    assert!(
        enqueue.status.success(),
        "{}",
        String::from_utf8_lossy(&enqueue.stderr)
    );

    // Kill the syncing process (SIGKILL) at varied moments, six times.
    for round in 0..6u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldlink"))
            .args([
                "--dev",
                "--server",
                &addr.to_string(),
                "outbox",
                "--db",
                &db_arg,
                "sync",
                "--timeout",
                "60",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300 + round * 170)).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let last = {
        let db_arg = db_arg.clone();
        tokio::task::spawn_blocking(move || {
            fieldlink(
                addr,
                &[
                    "outbox",
                    "--db",
                    &db_arg,
                    "sync",
                    "--until-settled",
                    "--timeout",
                    "300",
                ],
            )
        })
        .await
        .unwrap()
    };
    assert!(last.status.success(), "{}", String::from_utf8_lossy(&last.stderr));
    let status: serde_json::Value = serde_json::from_slice(&last.stdout).unwrap();
    assert_eq!(status["items"], 60);
    assert_eq!(status["states"]["acknowledged"], 60, "{status}");
    // Exactly once on the server, and every photo's bytes hash to its receipt.
    assert_eq!(server.state().storage.item_count().await.unwrap(), 60);
    let acknowledged = status["acknowledged"].as_array().unwrap();
    let mut photos = 0;
    for item in acknowledged.iter().filter(|i| i["kind"] == "photo") {
        let sha = item["sha256"].as_str().unwrap();
        let blob = data.path().join("evidence/blobs").join(&sha[..2]).join(sha);
        let bytes = std::fs::read(blob).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
        photos += 1;
    }
    assert_eq!(photos, 30);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_runs_a_short_shift_and_prints_its_summary() {
    let data = tempfile::tempdir().unwrap();
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev");
    let server = fieldlink_server::start(fieldlink_server::Config {
        dev: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        hj212: Some("127.0.0.1:0".parse().unwrap()),
        http: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: data.path().to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(&certs)),
        ..Default::default()
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let hj212 = server.hj212_addr().unwrap().to_string();
    let console = server.console_addr().unwrap().to_string();
    let output = tokio::task::spawn_blocking(move || {
        fieldlink(
            addr,
            &[
                "sim",
                "--monitors",
                "4",
                "--hj212",
                &hj212,
                "--grid-workers",
                "2",
                "--cameras",
                "1",
                "--console",
                &console,
                "--report-every-ms",
                "1500",
                "--terminals",
                "3",
                "--duration",
                "8",
                "--seed",
                "7",
                "--photos-per-record",
                "1",
                "--loss",
                "0.02",
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for key in [
        "terminals",
        "records_acked",
        "photos_acked",
        "services_acked",
        "interviews_acked",
        "assignments_received",
        "assignments_completed",
        "errors",
        "ack_latency_ms_p50",
        "ack_latency_ms_p99",
    ] {
        assert!(summary.get(key).is_some(), "{key} missing from {summary}");
    }
    assert_eq!(summary["terminals"], 3);
    // The monitors' readings were all answered (stored).
    let monitors = &summary["monitors"];
    let sent = monitors["packets_sent"].as_u64().unwrap();
    assert!(sent >= 4, "{summary}");
    assert_eq!(monitors["packets_answered"].as_u64(), Some(sent), "{summary}");
    assert_eq!(monitors["errors"], 0, "{summary}");
    let records = summary["records_acked"].as_u64().unwrap();
    assert!(records >= 1, "{summary}");
    // The terminals walked: their live positions reached the server's
    // board (datagrams under 2 % loss: at least one of each terminal's).
    assert!(summary["positions_sent"].as_u64().unwrap() >= 3, "{summary}");
    let walkers = server.state().positions.latest();
    assert!(!walkers.is_empty(), "no live position kept: {summary}");
    // Grid workers and cameras reported, each report acknowledged.
    let reporters = &summary["reporters"];
    assert_eq!(reporters["errors"], 0, "{summary}");
    let grid_reports = reporters["grid_reports_acked"].as_u64().unwrap();
    let grid_photos = reporters["grid_photos_acked"].as_u64().unwrap();
    let alerts = reporters["camera_alerts_accepted"].as_u64().unwrap();
    assert!(grid_reports >= 1 && alerts >= 1, "{summary}");
    assert_eq!(grid_photos, grid_reports, "{summary}");
    // What the simulator counts as acknowledged is what the server stored.
    let stored = server.state().storage.item_count().await.unwrap();
    let counted = records
        + summary["photos_acked"].as_u64().unwrap()
        + summary["services_acked"].as_u64().unwrap()
        + summary["interviews_acked"].as_u64().unwrap()
        + sent
        + grid_reports
        + grid_photos
        + alerts;
    assert_eq!(stored, counted, "{summary}");
    // Their reports became incidents on the triage queue.
    let incidents = server
        .state()
        .storage
        .list_incidents(&fieldlink_server::storage::IncidentFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let reported: u32 = incidents.iter().map(|i| i.incident.report_count).sum();
    assert!(reported as u64 >= grid_reports + alerts, "{summary}");
    server.shutdown().await;
}

/// `fieldlink stats` signs in to the console as the demo supervisor and
/// prints the period's figures: the JSON report and the CSV rows, with the
/// record just submitted counted; a bad date exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_prints_the_periods_figures_as_json_and_csv() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server_with(data.path(), |config| {
        config.http = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = server.local_addr();
    let console = format!("http://{}", server.console_addr().unwrap());
    let example = tokio::task::spawn_blocking(move || fieldlink(addr, &["example", "inspection"]))
        .await
        .unwrap();
    let file = data.path().join("record.json");
    std::fs::write(&file, &example.stdout).unwrap();
    let path = file.display().to_string();
    let submitted = tokio::task::spawn_blocking(move || fieldlink(addr, &["submit", "inspection", &path]))
        .await
        .unwrap();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let (year, _, _) = fieldlink_server::catalogue::civil_from_days(fieldlink_server::statistics::day_of(
        fieldlink_client::now_ms(),
    ));
    let (from, to) = (format!("{year}-01-01"), format!("{year}-12-31"));
    let run = |args: Vec<String>| {
        let console = console.clone();
        tokio::task::spawn_blocking(move || {
            let mut all = vec!["stats".to_owned(), "--console".to_owned(), console];
            all.extend(args);
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            fieldlink(addr, &refs)
        })
    };
    let json = run(vec![
        "--from".into(),
        from.clone(),
        "--to".into(),
        to.clone(),
        "--by".into(),
        "month".into(),
    ])
    .await
    .unwrap();
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["by"], "month");
    assert_eq!(report["totals"]["inspections"], 1, "{report}");
    let csv = run(vec![
        "--from".into(),
        from.clone(),
        "--to".into(),
        to,
        "--format".into(),
        "csv".into(),
    ])
    .await
    .unwrap();
    assert!(csv.status.success(), "{}", String::from_utf8_lossy(&csv.stderr));
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("domain,label,inspections,"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ZJ,")), "{text}");
    let bad = run(vec!["--from".into(), "2026-02-30".into(), "--to".into(), from])
        .await
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    server.shutdown().await;
}

/// `--transport tcp` reaches the server over TLS and HTTP/2 (as where UDP is
/// blocked) and gets the same receipt for the same file; an unknown
/// transport is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_flag_submits_over_tcp_with_the_same_receipt() {
    let data = tempfile::tempdir().unwrap();
    let server = dev_server_with(data.path(), |config| {
        config.tcp = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = server.local_addr();
    let tcp = server.tcp_addr().expect("a TCP listener").to_string();
    let example = tokio::task::spawn_blocking(move || fieldlink(addr, &["example", "inspection"]))
        .await
        .unwrap();
    let file = data.path().join("record.json");
    std::fs::write(&file, &example.stdout).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let submit = |transport: &'static str| {
        let (path, tcp) = (path.clone(), tcp.clone());
        tokio::task::spawn_blocking(move || {
            fieldlink(
                addr,
                &[
                    "--transport",
                    transport,
                    "--tcp-server",
                    &tcp,
                    "submit",
                    "inspection",
                    &path,
                ],
            )
        })
    };
    let over_tcp = submit("tcp").await.unwrap();
    assert!(
        over_tcp.status.success(),
        "{}",
        String::from_utf8_lossy(&over_tcp.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&over_tcp.stdout).unwrap();
    assert_eq!(first["replayed"], false);
    let over_quic = submit("quic").await.unwrap();
    let again: serde_json::Value = serde_json::from_slice(&over_quic.stdout).unwrap();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["server_seq"], first["server_seq"]);
    let unknown = submit("carrier-pigeon").await.unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown transport"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}
