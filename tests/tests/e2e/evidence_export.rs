//! The case export end to end: a real server stores a case's records, a
//! photo, a service and an interview; `export_data` writes the package from
//! its database while it runs; the offline verifier passes it, and each kind
//! of tampering is caught with its own reason.

use std::collections::BTreeMap;
use std::path::Path;

use fieldlink_client::evidence_export::verify_package;
use fieldlink_protocol::export::{Manifest, Summary};
use fieldlink_server::export::{export_data, ExportError};
use fieldlink_tests::{connect, dev_config, record, TestServer};

const CASE: &str = "CASE-EXPORT-1";

fn dev_log_key() -> String {
    std::fs::read_to_string(fieldlink_tests::certs_dir().join("log.pub")).unwrap()
}

/// The package's files, in order.
fn unpack(file: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

fn pack(files: &[(String, Vec<u8>)], out: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o444);
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap();
}

fn manifest_of(files: &[(String, Vec<u8>)]) -> Manifest {
    let (_, bytes) = files.iter().find(|(path, _)| path == "manifest.json").unwrap();
    serde_json::from_slice(bytes).unwrap()
}

fn set_manifest(files: &mut [(String, Vec<u8>)], manifest: &Manifest) {
    let slot = files
        .iter_mut()
        .find(|(path, _)| path == "manifest.json")
        .unwrap();
    slot.1 = serde_json::to_vec_pretty(manifest).unwrap();
}

fn file_mut<'a>(files: &'a mut [(String, Vec<u8>)], path: &str) -> &'a mut Vec<u8> {
    &mut files.iter_mut().find(|(p, _)| p == path).unwrap().1
}

/// Each failed check as (item id or file, check name).
fn failures(summary: &Summary) -> Vec<(String, &'static str)> {
    let mut found: Vec<(String, &'static str)> = summary
        .failures
        .iter()
        .map(|f| {
            let who = f.item_id.clone().or_else(|| f.file.clone()).unwrap_or_default();
            (who, f.check)
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_case_verifies_offline_and_each_tampering_is_caught_with_its_reason() {
    let server = TestServer::start().await;
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let now = fieldlink_client::now_ms();
    let mut first = record("officer-01");
    first.case_id = CASE.into();
    let mut second = record("officer-01");
    second.case_id = CASE.into();
    let mut elsewhere = record("officer-01");
    elsewhere.case_id = "CASE-OTHER".into();
    for record in [&first, &second, &elsewhere] {
        officer.submit_inspection(record).await.unwrap();
    }
    // A photo of the first record, sent without the case id: it belongs to
    // the case through its record.
    let (photo, jpeg) = fieldlink_tests::photo_for(&first.id, 3);
    let photo_receipt = officer.upload_photo(&photo, |_| {}).await.unwrap();
    let service = fieldlink_protocol::service::example_service("officer-01", CASE, now);
    officer.submit_service(&service).await.unwrap();
    let interview = fieldlink_protocol::interview::example_interview(["officer-01", "officer-02"], CASE, now);
    officer.submit_interview(&interview).await.unwrap();
    officer.close().await;

    let mut config = dev_config(server.data_dir.path());
    config.database = server.database.as_ref().map(|d| d.url.clone());
    let out_dir = tempfile::tempdir().unwrap();
    let package = out_dir.path().join("case.tar");
    let summary = export_data(&config, CASE, "supervisor-01", &package)
        .await
        .unwrap();
    assert_eq!(summary.items, 5, "{summary:?}");

    // Intact: every check passes against the trusted key.
    let verified = verify_package(
        &package,
        &fieldlink_client::evidence_export::Trust {
            log_key: Some(&dev_log_key()),
            witness_keys: &[],
            ca_pem: None,
        },
    )
    .unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.items, 5);
    let files = unpack(&package);
    let manifest = manifest_of(&files);
    let unsigned: Vec<&str> = manifest
        .items
        .iter()
        .filter(|i| i.capture.is_none())
        .map(|i| i.kind.as_str())
        .collect();
    assert_eq!(unsigned, Vec::<&str>::new(), "every item is device-signed");
    assert_eq!(verified.device_signed, 5);
    // Against the agency CA the verifier trusts: the device certificates
    // chain to it; against another agency's CA, none does.
    let agency_ca = std::fs::read(fieldlink_tests::certs_dir().join("ca.pem")).unwrap();
    let key = dev_log_key();
    let trusting = |ca: &[u8]| {
        verify_package(
            &package,
            &fieldlink_client::evidence_export::Trust {
                log_key: Some(&key),
                witness_keys: &[],
                ca_pem: Some(ca),
            },
        )
        .unwrap()
    };
    let with_ca = trusting(&agency_ca);
    assert!(with_ca.ok && with_ca.ca_trusted, "{with_ca:?}");
    let other_agency = tempfile::tempdir().unwrap();
    fieldlink_server::certs::generate_dev_set(other_agency.path()).unwrap();
    let other_ca = std::fs::read(other_agency.path().join("ca.pem")).unwrap();
    let foreign = trusting(&other_ca);
    assert_eq!(foreign.device_signed, 0);
    assert_eq!(
        foreign
            .failures
            .iter()
            .filter(|f| f.check == "certificate")
            .count(),
        5,
        "{foreign:?}"
    );
    let ids: Vec<&str> = manifest.items.iter().map(|item| item.item_id.as_str()).collect();
    for id in [
        &first.id,
        &second.id,
        &photo_receipt.item_id,
        &service.id,
        &interview.id,
    ] {
        assert!(ids.contains(&id.as_str()), "{id} is exported");
    }
    assert!(
        !ids.contains(&elsewhere.id.as_str()),
        "another case's record is not"
    );
    // The photo is byte-exact, and the record is its bytes as sent.
    let photo_entry = manifest.items.iter().find(|i| i.kind == "photo").unwrap();
    assert!(photo_entry.file.ends_with(".jpg"));
    assert_eq!(
        files.iter().find(|(p, _)| *p == photo_entry.file).unwrap().1,
        jpeg
    );
    let first_entry = manifest.items.iter().find(|i| i.item_id == first.id).unwrap();
    assert_eq!(
        files.iter().find(|(p, _)| *p == first_entry.file).unwrap().1,
        prost::Message::encode_to_vec(&first)
    );
    let index = String::from_utf8(files.iter().find(|(p, _)| p == "index.html").unwrap().1.clone()).unwrap();
    assert!(index.contains("证据清单") && index.contains(&photo_entry.sha256));
    // The export is a custody event in the log, and an item's custody
    // history names it.
    let storage = &server.server.state().storage;
    let event_id = uuid::Uuid::parse_str(&manifest.export_event.item_id).unwrap();
    assert!(storage.custody_event(event_id).await.unwrap().is_some());
    let history = storage
        .item_custody(uuid::Uuid::parse_str(&first.id).unwrap(), None, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);

    let check = |name: &str, files: &[(String, Vec<u8>)], key: Option<String>| {
        let path = out_dir.path().join(format!("{name}.tar"));
        pack(files, &path);
        verify_package(
            &path,
            &fieldlink_client::evidence_export::Trust {
                log_key: key.as_deref(),
                witness_keys: &[],
                ca_pem: None,
            },
        )
        .unwrap()
    };
    let trusted = Some(dev_log_key());

    // One byte of the photo.
    let mut tampered = files.clone();
    file_mut(&mut tampered, &photo_entry.file)[500] ^= 1;
    let found = check("photo", &tampered, trusted.clone());
    assert_eq!(
        failures(&found),
        vec![
            (photo_receipt.item_id.clone(), "digest"),
            (photo_receipt.item_id.clone(), "digest")
        ],
        "SHA-256 and SM3 both differ: {found:?}"
    );

    // One byte of a record.
    let mut tampered = files.clone();
    file_mut(&mut tampered, &first_entry.file)[3] ^= 0x20;
    let found = check("record", &tampered, trusted.clone());
    assert!(!found.ok);
    assert!(
        failures(&found)
            .iter()
            .all(|(id, check)| *id == first.id && *check == "digest"),
        "{found:?}"
    );

    // A record rewritten with its digests updated in the manifest: the leaf
    // those digests make is not in the signed tree.
    let mut tampered = files.clone();
    file_mut(&mut tampered, &first_entry.file)[3] ^= 0x20;
    let bytes = tampered
        .iter()
        .find(|(p, _)| *p == first_entry.file)
        .unwrap()
        .1
        .clone();
    let mut rewritten = manifest.clone();
    let entry = rewritten
        .items
        .iter_mut()
        .find(|i| i.item_id == first.id)
        .unwrap();
    entry.sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    entry.sm3 = hex::encode(<sm3::Sm3 as sha2::Digest>::digest(&bytes));
    set_manifest(&mut tampered, &rewritten);
    let found = check("rewritten", &tampered, trusted.clone());
    assert_eq!(
        failures(&found),
        vec![(first.id.clone(), "capture"), (first.id.clone(), "proof")],
        "the device signed other bytes, and the log holds another leaf: {found:?}"
    );

    // A device signature replaced (here: one byte of it changed).
    let mut tampered = files.clone();
    let mut resigned = manifest.clone();
    let entry = resigned
        .items
        .iter_mut()
        .find(|i| i.item_id == second.id)
        .unwrap();
    let capture = entry.capture.as_mut().unwrap();
    let mut signature = hex::decode(&capture.signature).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 1;
    capture.signature = hex::encode(signature);
    set_manifest(&mut tampered, &resigned);
    let found = check("device-signature", &tampered, trusted.clone());
    assert_eq!(
        failures(&found),
        vec![
            (second.id.clone(), "capture_signature"),
            (second.id.clone(), "proof")
        ],
        "{found:?}"
    );

    // An item dropped from the package (its file and its manifest entry).
    let mut tampered = files.clone();
    let mut dropped = manifest.clone();
    dropped.items.retain(|i| i.item_id != second.id);
    let second_file = manifest
        .items
        .iter()
        .find(|i| i.item_id == second.id)
        .unwrap()
        .file
        .clone();
    tampered.retain(|(p, _)| *p != second_file);
    set_manifest(&mut tampered, &dropped);
    let found = check("dropped", &tampered, trusted.clone());
    assert_eq!(
        failures(&found),
        vec![(manifest.export_event.item_id.clone(), "export_event")],
        "{found:?}"
    );
    assert!(found.failures[0].detail.contains(&second.id));

    // Two items' proofs swapped.
    let mut tampered = files.clone();
    let mut swapped = manifest.clone();
    let (a, b) = (swapped.items[0].proof.clone(), swapped.items[1].proof.clone());
    swapped.items[0].proof = b;
    swapped.items[1].proof = a;
    set_manifest(&mut tampered, &swapped);
    let found = check("swapped", &tampered, trusted.clone());
    let mut expected = vec![
        (manifest.items[0].item_id.clone(), "proof"),
        (manifest.items[1].item_id.clone(), "proof"),
    ];
    expected.sort();
    assert_eq!(failures(&found), expected, "{found:?}");

    // The checkpoint re-signed with another key, and that key put in the
    // package: the package is self-consistent, but not with the trusted key.
    let (other_private, other_public) = fieldlink_server::transparency::generate_key("impostor");
    let impostor =
        fieldlink_server::transparency::LogSigner::from_key(&other_private, &manifest.log.origin).unwrap();
    let root: [u8; 32] = hex::decode(&manifest.log.root_sha256)
        .unwrap()
        .try_into()
        .unwrap();
    let mut tampered = files.clone();
    *file_mut(&mut tampered, "checkpoint.txt") =
        impostor.sign(manifest.log.tree_size, &root).unwrap().into_bytes();
    *file_mut(&mut tampered, "log.pub") = format!("{other_public}\n").into_bytes();
    let found = check("resigned", &tampered, trusted.clone());
    assert_eq!(
        failures(&found),
        vec![
            ("checkpoint.txt".into(), "checkpoint"),
            ("log.pub".into(), "log_key")
        ],
        "{found:?}"
    );
    let untrusted = check("resigned-untrusted", &tampered, None);
    assert!(
        untrusted.ok,
        "without a trusted key only self-consistency is checked"
    );
    assert_eq!(untrusted.log_key, other_public);

    // A file the manifest does not name.
    let mut tampered = files.clone();
    tampered.push(("items/extra.pb".into(), b"smuggled".to_vec()));
    let found = check("extra", &tampered, trusted.clone());
    assert_eq!(
        failures(&found),
        vec![("items/extra.pb".into(), "extra_file")],
        "{found:?}"
    );

    // Not a package at all: a typed error, not a verdict.
    let garbage = out_dir.path().join("garbage.tar");
    std::fs::write(&garbage, b"not a tar file at all, just some bytes").unwrap();
    let verdict = verify_package(
        &garbage,
        &fieldlink_client::evidence_export::Trust {
            log_key: trusted.as_deref(),
            witness_keys: &[],
            ca_pem: None,
        },
    );
    assert!(verdict.is_err() || !verdict.unwrap().ok);

    // A case with nothing stored, and a bad case id, are refused; the
    // package file is never overwritten.
    let empty = export_data(
        &config,
        "CASE-NOTHING",
        "supervisor-01",
        &out_dir.path().join("e.tar"),
    )
    .await;
    assert!(matches!(empty, Err(ExportError::EmptyCase(_))), "{empty:?}");
    let bad = export_data(&config, "", "supervisor-01", &out_dir.path().join("b.tar")).await;
    assert!(matches!(bad, Err(ExportError::BadCaseId(_))), "{bad:?}");
    assert!(!out_dir.path().join("e.tar").exists());
    let names: BTreeMap<String, usize> = files.iter().map(|(p, b)| (p.clone(), b.len())).collect();
    assert!(names.contains_key("certs/ca.pem"), "{names:?}");
    server.server.shutdown().await;
}
