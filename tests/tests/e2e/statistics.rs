//! Statistics after a simulated two years: a seeded generator stores
//! inspections (matters, officers, outcomes, days spread over 2025 and
//! 2026); every figure of `/api/stats` — by domain, matter, team, officer
//! and month, penalties against a year earlier, the CSV — equals what the
//! test counts itself from the generated records; assignments dispatched
//! and accepted give their response times.

use std::collections::BTreeMap;

use fieldlink_protocol::pb::Outcome;
use rand::{Rng, SeedableRng};

use crate::console::{new_assignment, send, sign_in, start};

/// One generated record: (matter, sending officer, outcome, started at).
type Generated = (String, String, i32, i64);

/// How the test groups a generated record.
type KeyOf<'a> = Box<dyn Fn(&Generated) -> String + 'a>;

fn day_start(date: &str) -> i64 {
    fieldlink_server::catalogue::day_start_ms(date).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_equal_counts_made_from_the_raw_records() {
    let (server, base) = start().await;
    let state = server.server.state().clone();
    let catalogue = state.catalogue.get();
    let directory = state.directory.get();
    let matters: Vec<String> = catalogue.versions()[0]
        .matters()
        .map(|m| m.code.clone())
        .collect();
    let officers = [
        "officer-01",
        "officer-02",
        "officer-03",
        "officer-04",
        "officer-05",
    ];
    let (start_ms, end_ms) = (day_start("2025-01-01"), day_start("2027-01-01"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_203);
    let mut generated: Vec<Generated> = Vec::new();
    let mut batch = Vec::new();
    for n in 0..3_000 {
        let matter = matters[rng.gen_range(0..matters.len())].clone();
        let officer = officers[rng.gen_range(0..officers.len())].to_owned();
        let outcome = rng.gen_range(1..=7);
        let started = rng.gen_range(start_ms..end_ms);
        batch.push(fieldlink_tests::stored_inspection(
            format!("generated record {n}"),
            &officer,
            &matter,
            outcome,
            started,
        ));
        generated.push((matter, officer, outcome, started));
        if batch.len() == 500 {
            state
                .storage
                .commit_items(&batch, fieldlink_client::now_ms())
                .await
                .unwrap();
            batch.clear();
        }
    }

    // Three assignments today, two accepted.
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let terminal = fieldlink_tests::connect(server.addr(), "device-001", "officer-01")
        .await
        .unwrap();
    for n in 0..3 {
        let (status, made) = send(console.post("/api/assignments", &new_assignment("officer-01"))).await;
        assert_eq!(status, 200, "{made}");
        if n < 2 {
            terminal
                .accept_assignment(made["assignment"]["id"].as_str().unwrap())
                .await
                .unwrap();
        }
    }
    terminal.close().await;

    let year = (day_start("2026-01-01"), day_start("2027-01-01"));
    let in_2026: Vec<&Generated> = generated
        .iter()
        .filter(|g| (year.0..year.1).contains(&g.3))
        .collect();
    let penalty = |o: i32| o == Outcome::OnSitePenalty as i32 || o == Outcome::CaseOpened as i32;
    let expected = |key: &dyn Fn(&Generated) -> String| -> BTreeMap<String, (u64, u64)> {
        let mut counts = BTreeMap::new();
        for g in &in_2026 {
            let entry: &mut (u64, u64) = counts.entry(key(g)).or_default();
            entry.0 += 1;
            entry.1 += u64::from(penalty(g.2));
        }
        counts
    };
    let month = |g: &Generated| {
        let (y, m, _) =
            fieldlink_server::catalogue::civil_from_days(fieldlink_server::statistics::day_of(g.3));
        format!("{y:04}-{m:02}")
    };
    let domain = |g: &Generated| catalogue.versions()[0].matter(&g.0).unwrap().domain.clone();
    let team = |g: &Generated| directory.officer(&g.1).unwrap().team_id.clone();
    let cases: [(&str, KeyOf); 5] = [
        ("matter", Box::new(|g: &Generated| g.0.clone())),
        ("officer", Box::new(|g: &Generated| g.1.clone())),
        ("month", Box::new(month)),
        ("domain", Box::new(domain)),
        ("team", Box::new(team)),
    ];
    for (by, key) in cases {
        let (status, report) =
            send(console.get(&format!("/api/stats?from=2026-01-01&to=2026-12-31&by={by}"))).await;
        assert_eq!(status, 200, "{by}: {report}");
        let got: BTreeMap<String, (u64, u64)> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_owned(),
                    (
                        r["inspections"].as_u64().unwrap(),
                        r["penalties"].as_u64().unwrap(),
                    ),
                )
            })
            .collect();
        assert_eq!(got, expected(&*key), "by {by}");
        assert_eq!(report["totals"]["inspections"], in_2026.len() as u64);
        // Each row's outcomes add up to it.
        for row in report["rows"].as_array().unwrap() {
            let sum: u64 = row["outcomes"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(sum, row["inspections"].as_u64().unwrap());
        }
        if by == "month" {
            assert_eq!(got.len(), 12);
        }
    }

    // Penalties against 2025, and the catalogue by domain.
    let (_, report) = send(console.get("/api/stats?from=2026-01-01&to=2026-12-31")).await;
    let in_2025 = generated
        .iter()
        .filter(|g| (start_ms..year.0).contains(&g.3) && penalty(g.2))
        .count() as u64;
    let this_year = in_2026.iter().filter(|g| penalty(g.2)).count() as u64;
    assert_eq!(report["by"], "domain");
    assert_eq!(report["penalties"]["this_period"], this_year);
    assert_eq!(report["penalties"]["a_year_earlier"], in_2025);
    let change = report["penalties"]["change_percent"].as_f64().unwrap();
    let expected_change = (this_year as f64 - in_2025 as f64) / in_2025 as f64 * 100.0;
    assert!(
        (change - expected_change).abs() < 0.1,
        "{change} vs {expected_change}"
    );
    assert_eq!(report["catalogue_version"], "2026-07");
    let catalogued: u64 = report["catalogue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["matters"].as_u64().unwrap())
        .sum();
    assert_eq!(catalogued as usize, catalogue.versions()[1].len());
    assert_eq!(report["catalogue"].as_array().unwrap().len(), 16);
    // The assignments of today.
    assert_eq!(report["assignments"]["created"], 3, "{}", report["assignments"]);
    assert_eq!(report["assignments"]["to_accepted"]["count"], 2);
    assert!(report["assignments"]["to_accepted"]["p50_ms"].as_i64().unwrap() >= 0);

    // The CSV holds the same rows, and the total.
    let response = console
        .get("/api/stats?from=2026-01-01&to=2026-12-31&by=officer&format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(
        lines[0].starts_with("officer,label,inspections,OUTCOME_NO_ISSUE"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 5 + 1, "{text}");
    let officer_01: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("officer-01,"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(
        officer_01[2],
        expected(&|g: &Generated| g.1.clone())["officer-01"].0.to_string()
    );

    // The same report as an Excel workbook: two sheets.
    let response = console
        .get("/api/stats?from=2026-01-01&to=2026-12-31&by=month&format=xlsx")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let workbook = response.bytes().await.unwrap();
    assert_eq!(&workbook[..2], b"PK", "a zip container");
    let names = String::from_utf8_lossy(&workbook);
    assert!(names.contains("xl/worksheets/sheet1.xml") && names.contains("xl/worksheets/sheet2.xml"));

    // Bad questions get typed refusals naming the field.
    for (query, field) in [
        ("to=2026-12-31", "from"),
        ("from=2026-02-30&to=2026-12-31", "from"),
        ("from=2026-12-31&to=2026-01-01", "to"),
        ("from=2020-01-01&to=2026-12-31", "to"),
        ("from=2026-01-01&to=2026-12-31&by=planet", "by"),
        ("from=2026-01-01&to=2026-12-31&format=pdf", "format"),
    ] {
        let (status, refusal) = send(console.get(&format!("/api/stats?{query}"))).await;
        assert_eq!(
            (status, refusal["field"].as_str()),
            (400, Some(field)),
            "{query}: {refusal}"
        );
    }
}
