//! Statistics for the command room and the yearly report (crate::statistics).
//!
//! - `GET /api/stats?from=YYYY-MM-DD&to=YYYY-MM-DD&by=domain|matter|team|officer|month&format=json|csv|xlsx`

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::extract::ApiQuery;
use super::{supervisor, ApiError, ConsoleState};
use crate::statistics::{self, GroupBy, Period};

/// The query string.
#[derive(Deserialize, Default)]
pub struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    format: Option<String>,
}

/// The report, as JSON or CSV.
pub async fn stats(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    supervisor(&state, &headers, false)?;
    let (Some(from), Some(to)) = (query.from.as_deref(), query.to.as_deref()) else {
        return Err(ApiError::invalid("from", "from and to are required (YYYY-MM-DD)"));
    };
    let period = Period::parse(from, to).map_err(|e| ApiError::invalid(&e.field, &e.reason))?;
    let by = match query.by.as_deref() {
        None | Some("") => GroupBy::Domain,
        Some(text) => GroupBy::parse(text)
            .ok_or_else(|| ApiError::invalid("by", "must be domain, matter, team, officer or month"))?,
    };
    let report = statistics::report(
        state.app.storage.as_ref(),
        &state.app.catalogue.get(),
        &state.app.directory.get(),
        &period,
        by,
    )
    .await?;
    match query.format.as_deref() {
        None | Some("") | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => {
            let name = format!("fieldlink-stats-{}-{}-{}.csv", period.from, period.to, report.by);
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                statistics::csv(&report),
            )
                .into_response())
        }
        Some("xlsx") => {
            let name = format!("fieldlink-stats-{}-{}-{}.xlsx", period.from, period.to, report.by);
            let bytes = statistics::xlsx(&report).map_err(|e| {
                ApiError::new(
                    fieldlink_protocol::pb::Code::Internal,
                    fieldlink_protocol::status::reason::EXPORT_FAILED,
                    &format!("cannot write the workbook: {e}"),
                )
            })?;
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        Some(_) => Err(ApiError::invalid("format", "must be json, csv or xlsx")),
    }
}
