//! Administration from the console, without a restart.
//!
//! - `POST /api/admin/reload` `{directory, catalogue}`: re-reads the
//!   directory and/or the catalogue from their files (crate::reload), each
//!   checked whole first; a bad file is refused as INVALID_FIELD naming it,
//!   and what is in force stays.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::request::json_body;
use super::{supervisor, ApiError, ConsoleState};
use crate::reload::{self, ReloadError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadForm {
    #[serde(default)]
    directory: bool,
    #[serde(default)]
    catalogue: bool,
}

/// Reloads what the body asks for; answers what each reload did.
pub async fn reload(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: ReloadForm = json_body(&body)?;
    if !form.directory && !form.catalogue {
        return Err(ApiError::invalid(
            "body",
            "name what to reload: directory, catalogue or both",
        ));
    }
    let refused = |field: &str, error: ReloadError| match error {
        ReloadError::Storage(error) => ApiError::from(error),
        other => ApiError::invalid(field, &other.to_string()),
    };
    // Both files are checked before either is put in force.
    let catalogue = match form.catalogue {
        true => Some(
            reload::read_catalogue(&state.app)
                .await
                .map_err(|e| refused("catalogue", e))?,
        ),
        false => None,
    };
    let directory = match form.directory {
        true => Some(
            reload::reload_directory(&state.app)
                .await
                .map_err(|e| refused("directory", e))?,
        ),
        false => None,
    };
    let catalogue = catalogue.map(|checked| reload::put_catalogue(&state.app, checked));
    tracing::info!(by = %session.officer.id, ?directory, ?catalogue, "reloaded from the console");
    Ok(Json(json!({ "directory": directory, "catalogue": catalogue })))
}
