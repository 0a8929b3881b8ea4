//! Small pieces every console handler uses to read a request: its JSON
//! body, an id from its path, and who is asking (for custody events).

use std::net::SocketAddr;

use axum::body::Bytes;
use uuid::Uuid;

use super::sessions::ConsoleSession;
use super::ApiError;
use crate::custody::Accessor;

/// The body as `T`, or a typed refusal naming what was wrong.
pub fn json_body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid("body", &format!("not the expected JSON: {e}")))
}

/// A UUID from the path or body, or a typed refusal naming `field`.
pub fn uuid_param(field: &str, text: &str) -> Result<Uuid, ApiError> {
    fieldlink_protocol::validate::item_id(field, text)
        .map_err(|e| ApiError::from(crate::error::ServiceError::from(e)))
}

/// Who is looking, for the custody events of what they look at.
pub fn accessor(session: &ConsoleSession, peer: SocketAddr) -> Accessor {
    Accessor {
        actor: session.officer.id.clone(),
        origin: format!("console {}", peer.ip()),
    }
}
