//! Conversions between stored column values and domain values, shared by
//! the backends.

use super::StorageError;

pub(crate) fn to_u64(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt(format!("negative value {value}")))
}

pub(crate) fn to_i64(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Corrupt(format!("value {value} too large")))
}

pub(crate) fn flags_text(flags: &[i32]) -> String {
    flags
        .iter()
        .map(|flag| {
            fieldlink_protocol::pb::EvidenceFlag::try_from(*flag)
                .map(|f| f.as_str_name().to_owned())
                .unwrap_or_else(|_| flag.to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn parse_flags(text: &str) -> Result<Vec<i32>, StorageError> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            fieldlink_protocol::pb::EvidenceFlag::from_str_name(part)
                .map(|flag| flag as i32)
                .ok_or_else(|| StorageError::Corrupt(format!("unknown flag {part}")))
        })
        .collect()
}

/// A 32-byte digest column.
pub(crate) fn digest32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StorageError> {
    bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A UUID stored as text.
pub(crate) fn uuid(text: &str) -> Result<uuid::Uuid, StorageError> {
    uuid::Uuid::parse_str(text).map_err(|e| StorageError::Corrupt(format!("uuid {text}: {e}")))
}

/// An encoded assignment snapshot.
pub(crate) fn assignment(bytes: &[u8]) -> Result<fieldlink_protocol::pb::Assignment, StorageError> {
    <fieldlink_protocol::pb::Assignment as prost::Message>::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("assignment snapshot: {e}")))
}

/// An encoded assignment event, given its seq.
pub(crate) fn assignment_event(
    bytes: &[u8],
    seq: i64,
) -> Result<fieldlink_protocol::pb::AssignmentEvent, StorageError> {
    let mut event = <fieldlink_protocol::pb::AssignmentEvent as prost::Message>::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("assignment event: {e}")))?;
    event.seq = to_u64(seq)?;
    Ok(event)
}

/// Folds a service's events into its history (first delivery, first confirmation).
pub(crate) fn apply_service_event(
    history: &mut super::ServiceHistory,
    kind: i32,
    at_ms: i64,
) -> Result<(), StorageError> {
    use fieldlink_protocol::pb::ServiceEventKind;
    match ServiceEventKind::try_from(kind) {
        Ok(ServiceEventKind::Delivered) => {
            history.delivered_at_ms.get_or_insert(at_ms);
        }
        Ok(ServiceEventKind::Confirmed) => {
            history.confirmed_at_ms.get_or_insert(at_ms);
        }
        _ => return Err(StorageError::Corrupt(format!("service event kind {kind}"))),
    }
    Ok(())
}
