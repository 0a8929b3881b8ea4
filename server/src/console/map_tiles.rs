//! The console map's base layer: the tile URL template of the configuration
//! (`console_map_tiles`, checked at start by [`crate::tile_template`]), whose
//! origin is the only one besides the console's own that the page may load
//! images from.
//!
//! - `GET /api/map`: `{tile_url, attribution}` (both null without tiles).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::{supervisor, ApiError, ConsoleState};

/// The page's Content-Security-Policy: its own origin only, plus the tile
/// server's for images when tiles are configured.
pub fn content_security_policy(template: Option<&str>) -> String {
    let tiles = template
        .and_then(|t| crate::tile_template::origin(t).ok())
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data:{tiles}; style-src 'self'; script-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The base layer the page draws under its marks.
pub async fn map_settings(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let config = &state.app.config;
    Ok(Json(json!({
        "tile_url": config.console_map_tiles,
        "attribution": config.console_map_attribution,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_tile_origin_for_images_only() {
        let policy = content_security_policy(Some("https://tiles.example.gov.cn/{z}/{x}/{y}.png"));
        assert!(
            policy.contains("img-src 'self' data: https://tiles.example.gov.cn;"),
            "{policy}"
        );
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!content_security_policy(None).contains("https://"));
    }
}
