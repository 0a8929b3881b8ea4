//! Who may be named on an item, and who may submit it.

use fieldlink_protocol::FieldError;

use crate::error::ServiceError;
use crate::session::Session;
use crate::state::AppState;

/// Every officer named in `field` must be enrolled (holding an enforcement
/// credential valid at `credential_required_at`, when given), and the
/// signed-in officer must be one of them: an officer submits only items in
/// which they take part.
pub fn check(
    state: &AppState,
    session: &Session,
    field: &str,
    officer_ids: &[String],
    credential_required_at: Option<i64>,
) -> Result<(), ServiceError> {
    let directory = state.directory.get();
    for (index, officer_id) in officer_ids.iter().enumerate() {
        let element = format!("{field}[{index}]");
        let Some(officer) = directory.enrolled_officer(officer_id) else {
            return Err(FieldError::new(element, format!("{officer_id} is not an enrolled officer")).into());
        };
        // Administrative Penalty Law art. 42: enforcement is carried out by
        // officers holding enforcement credentials.
        if let Some(at_ms) = credential_required_at {
            if officer.credential_at(at_ms).is_none() {
                return Err(FieldError::new(
                    element,
                    format!(
                        "{officer_id} held no enforcement credential valid then; this needs credentialed \
                         officers (Administrative Penalty Law art. 42)"
                    ),
                )
                .into());
            }
        }
    }
    if !officer_ids.contains(&session.officer.id) {
        return Err(ServiceError::PermissionDenied {
            field: field.to_owned(),
            message: format!(
                "the signed-in officer {} must be among {field}",
                session.officer.id
            ),
        });
    }
    Ok(())
}
