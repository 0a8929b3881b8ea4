//! SubmitInspection: check the record, check who may submit it, commit it,
//! answer with the receipt.

use fieldlink_protocol::inspection::{outcome_is_enforcement_action, Inspection};
use fieldlink_protocol::pb;
use fieldlink_protocol::validate::{self, ValidationContext};
use fieldlink_protocol::FieldError;
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{CommitOutcome, ItemIndex, ItemKind, NewItem, StoredReceipt};

/// Stores an inspection record and returns its receipt.
///
/// `body_bytes` is the record exactly as received; it is what is stored and hashed.
pub async fn submit(
    state: &AppState,
    session: &Session,
    record: pb::InspectionRecord,
    body_bytes: &[u8],
) -> Result<pb::Receipt, ServiceError> {
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    // A resend is answered from storage before any rule is checked again: the
    // rules (clock, directory) may have moved since the original was accepted.
    let item_id = validate::item_id("id", &record.id)?;
    if let Some(stored) = state.storage.item(item_id).await? {
        return replay_or_conflict(stored.receipt, sha256);
    }

    let context = ValidationContext {
        now_ms: (state.clock)(),
        clock_skew_ms_max: state.config.clock_skew_ms_max,
    };
    let inspection = Inspection::parse(record, &context)?;
    check_against_directory(state, session, &inspection)?;

    let item = NewItem {
        item_id: inspection.id,
        kind: ItemKind::Inspection,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: inspection.case_id.clone(),
        sha256,
        body: body_bytes.to_vec(),
        index: ItemIndex::Inspection {
            matter_code: inspection.matter_code,
            outcome: inspection.outcome as i32,
            started_at_ms: inspection.started_at_ms,
            latitude: inspection.place.latitude,
            longitude: inspection.place.longitude,
            assignment_id: inspection.assignment_id.map(|id| id.to_string()),
            officer_ids: inspection.officer_ids,
            photo_ids: inspection.photo_ids.iter().map(|id| id.to_string()).collect(),
        },
    };
    match state.committer.commit(item).await? {
        CommitOutcome::Stored(receipt) => Ok(wire_receipt(receipt, false)),
        CommitOutcome::Replayed(receipt) => Ok(wire_receipt(receipt, true)),
        CommitOutcome::Conflict { existing_seq } => Err(ServiceError::Conflict { existing_seq }),
    }
}

/// The rules that need the catalogue and the directory.
fn check_against_directory(
    state: &AppState,
    session: &Session,
    inspection: &Inspection,
) -> Result<(), ServiceError> {
    if state.catalogue.matter(&inspection.matter_code).is_none() {
        return Err(FieldError::new(
            "matter_code",
            format!(
                "{} is not in the enforcement-matters catalogue",
                inspection.matter_code
            ),
        )
        .into());
    }
    let enforcement = outcome_is_enforcement_action(inspection.outcome);
    for (index, officer_id) in inspection.officer_ids.iter().enumerate() {
        let field = format!("officer_ids[{index}]");
        let Some(officer) = state.directory.enrolled_officer(officer_id) else {
            return Err(FieldError::new(field, format!("{officer_id} is not an enrolled officer")).into());
        };
        // Administrative Penalty Law art. 42: enforcement is carried out by
        // officers holding enforcement credentials, at least two of them.
        if enforcement && officer.credential_number.is_none() {
            return Err(FieldError::new(
                field,
                format!(
                    "{officer_id} holds no enforcement credential; enforcement actions need credentialed officers \
                     (Administrative Penalty Law art. 42)"
                ),
            )
            .into());
        }
    }
    if !inspection.officer_ids.contains(&session.officer.id) {
        return Err(ServiceError::PermissionDenied {
            field: "officer_ids".into(),
            message: format!(
                "the signed-in officer {} must be among the officers present",
                session.officer.id
            ),
        });
    }
    Ok(())
}

fn replay_or_conflict(stored: StoredReceipt, sha256: [u8; 32]) -> Result<pb::Receipt, ServiceError> {
    if stored.sha256 == sha256 {
        Ok(wire_receipt(stored, true))
    } else {
        Err(ServiceError::Conflict {
            existing_seq: stored.server_seq,
        })
    }
}

/// A stored receipt as sent on the wire.
pub fn wire_receipt(receipt: StoredReceipt, replayed: bool) -> pb::Receipt {
    pb::Receipt {
        item_id: receipt.item_id.to_string(),
        server_seq: receipt.server_seq,
        received_at_ms: receipt.received_at_ms,
        sha256: receipt.sha256.to_vec(),
        replayed,
        ..Default::default()
    }
}
