//! `fieldlink example …`: a valid item as proto3 JSON, ready to edit and submit.

use clap::Subcommand;
use fieldlink_protocol::pb;

use super::connection::{ConnectionArgs, DEV_OFFICER};
use super::error::CliError;
use super::output::print_pretty;

/// Which example to print.
#[derive(Debug, Subcommand)]
pub enum ItemKind {
    /// An inspection record.
    Inspection,
    /// An electronic-service confirmation (电子送达).
    Service {
        /// The case id to put in it.
        #[arg(long, default_value = "CASE-DEMO-0001")]
        case: String,
    },
    /// A later event of a service: delivered or confirmed.
    ServiceEvent {
        /// The service's id.
        #[arg(long)]
        service: String,
        /// `delivered` or `confirmed`.
        #[arg(long, default_value = "delivered")]
        kind: String,
    },
    /// An assignment for `fieldlink dispatch create`.
    Assignment {
        /// For this officer.
        #[arg(long, conflicts_with = "team")]
        to: Option<String>,
        /// For this team.
        #[arg(long)]
        team: Option<String>,
    },
    /// A grid worker's report (网格上报), for `--officer grid-01 submit grid-report`.
    GridReport,
    /// Remote-interview metadata (远程询问); the second interviewer is officer-02.
    Interview {
        /// The case id to put in it.
        #[arg(long, default_value = "CASE-DEMO-0001")]
        case: String,
        /// The second interviewer.
        #[arg(long, default_value = "officer-02")]
        with: String,
    },
}

/// Prints the example. Needs no server.
pub fn run(connection: &ConnectionArgs, kind: ItemKind) -> Result<(), CliError> {
    let officer = connection.officer_or_demo();
    let now_ms = fieldlink_client::now_ms();
    match kind {
        ItemKind::Inspection => {
            print_pretty(&fieldlink_protocol::inspection::example_record(&officer, now_ms))
        }
        ItemKind::Service { case } => print_pretty(&fieldlink_protocol::service::example_service(
            &officer, &case, now_ms,
        )),
        ItemKind::ServiceEvent { service, kind } => print_pretty(&service_event(service, &kind, now_ms)?),
        ItemKind::Assignment { to, team } => print_pretty(&assignment(to, team, now_ms)),
        ItemKind::GridReport => print_pretty(&grid_report(now_ms)),
        ItemKind::Interview { case, with } => print_pretty(
            &fieldlink_protocol::interview::example_interview([&officer, &with], &case, now_ms),
        ),
    }
}

fn grid_report(now_ms: i64) -> pb::GridReport {
    pb::GridReport {
        id: uuid::Uuid::now_v7().to_string(),
        category: "illegal_dumping".into(),
        place: Some(pb::Place {
            latitude: 29.8712,
            longitude: 121.5523,
            address: "人民路 30 号东侧绿化带".into(),
            accuracy_m: 8.0,
        }),
        description: "绿化带内倾倒建筑垃圾约 2 立方米 About 2 m³ of construction waste dumped in the verge"
            .into(),
        observed_at_ms: now_ms - 60_000,
        photo_ids: Vec::new(),
        matter_code: "SR-002".into(),
    }
}

fn service_event(service_id: String, kind: &str, now_ms: i64) -> Result<pb::ServiceEvent, CliError> {
    let kind = match kind {
        "delivered" => pb::ServiceEventKind::Delivered,
        "confirmed" => pb::ServiceEventKind::Confirmed,
        other => return Err(CliError::Usage(format!("unknown event kind {other}"))),
    };
    let confirmed = kind == pb::ServiceEventKind::Confirmed;
    Ok(pb::ServiceEvent {
        id: uuid::Uuid::now_v7().to_string(),
        service_id,
        kind: kind as i32,
        at_ms: now_ms - 1000,
        confirmation_method: if confirmed {
            pb::ConfirmationMethod::ReplyCode as i32
        } else {
            0
        },
        confirmation_reference: if confirmed { "8841".into() } else { String::new() },
        signature_evidence_id: String::new(),
    })
}

fn assignment(to: Option<String>, team: Option<String>, now_ms: i64) -> pb::Assignment {
    pb::Assignment {
        id: uuid::Uuid::now_v7().to_string(),
        title: "巡查城南路占道经营 Patrol Chengnan Road for obstructions".into(),
        instructions: "核查占道堆放情况，拍照取证，必要时责令改正。".into(),
        matter_code: "ZJ-001".into(),
        place: Some(pb::Place {
            latitude: 29.8683,
            longitude: 121.5440,
            address: "城南路 18 号".into(),
            accuracy_m: 0.0,
        }),
        priority: pb::Priority::Normal as i32,
        due_at_ms: now_ms + 4 * 60 * 60 * 1000,
        assignee: Some(match team {
            Some(team) => pb::assignment::Assignee::TeamId(team),
            None => pb::assignment::Assignee::OfficerId(to.unwrap_or_else(|| DEV_OFFICER.to_owned())),
        }),
        ..Default::default()
    }
}
