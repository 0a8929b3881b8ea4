//! Why a command failed, and the exit code each reason maps to.

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or an unusable input file (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The SDK failed or the server refused (exit 1).
    #[error("{0}")]
    Client(#[from] fieldlink_client::Error),
    /// The terminal's outbox failed (exit 1).
    #[error("the outbox: {0}")]
    Outbox(#[from] fieldlink_client::outbox::OutboxError),
    /// A result could not be written as JSON (exit 1).
    #[error("cannot write the result as JSON: {0}")]
    Output(#[from] serde_json::Error),
    /// The work did not finish within its time (exit 1).
    #[error("{0}")]
    Incomplete(String),
    /// An evidence package failed a check (exit 1; the summary names it).
    #[error("{0}")]
    Unverified(String),
}

impl CliError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Prints the failure to stderr: the typed status as JSON when the server
    /// refused, one `fieldlink: …` line otherwise.
    pub fn report(&self) {
        let Self::Client(error) = self else {
            eprintln!("fieldlink: {self}");
            return;
        };
        match error.status() {
            Some(status) => {
                let json = serde_json::json!({
                    "error": {
                        "code": status.code_or_unknown().as_str_name(),
                        "reason": status.reason,
                        "message": status.message,
                        "field": status.field,
                        "retryable": status.retryable,
                        "conflicting_seq": status.conflicting_seq,
                    }
                });
                eprintln!("{json}");
            }
            None => eprintln!(
                "fieldlink: {error} (retryable: {})",
                if error.is_retryable() { "yes" } else { "no" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usage_errors_exit_2() {
        assert_eq!(CliError::Usage("bad flag".into()).exit_code(), 2);
        let not_json = serde_json::from_str::<u8>("x").unwrap_err();
        let output = CliError::from(not_json);
        assert_eq!(output.exit_code(), 1);
        assert!(
            output.to_string().starts_with("cannot write the result as JSON"),
            "{output}"
        );
        assert_eq!(CliError::Incomplete("late".into()).exit_code(), 1);
    }
}
