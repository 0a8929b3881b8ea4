//! `Debug` for the messages that carry secrets (a password, a session
//! token): every field as prost would print it, the secret as `***` (or
//! `""` when empty, so a log still shows whether one was there). Each impl
//! takes its message apart field by field, so a field added to the .proto
//! fails to compile here until it is printed (or hidden) too.

use std::fmt;

use crate::pb;

/// How a secret is shown.
struct Hidden<'a>(&'a str);

impl fmt::Debug for Hidden<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("***")
        }
    }
}

impl fmt::Debug for pb::Welcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pb::Welcome {
            protocol_version,
            server_time_ms,
            officer,
            limits,
            device_id,
            session_token,
            session_token_expires_at_ms,
            database_epoch,
            catalogue_revision,
            roster_revision,
        } = self;
        f.debug_struct("Welcome")
            .field("protocol_version", protocol_version)
            .field("server_time_ms", server_time_ms)
            .field("officer", officer)
            .field("limits", limits)
            .field("device_id", device_id)
            .field("session_token", &Hidden(session_token))
            .field("session_token_expires_at_ms", session_token_expires_at_ms)
            .field("database_epoch", database_epoch)
            .field("catalogue_revision", catalogue_revision)
            .field("roster_revision", roster_revision)
            .finish()
    }
}

impl fmt::Debug for pb::PasswordSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pb::PasswordSignIn { officer_id, password } = self;
        f.debug_struct("PasswordSignIn")
            .field("officer_id", officer_id)
            .field("password", &Hidden(password))
            .finish()
    }
}

impl fmt::Debug for pb::TokenSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pb::TokenSignIn { token } = self;
        f.debug_struct("TokenSignIn")
            .field("token", &Hidden(token))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_debug_output_but_everything_else_does() {
        let token = "9f1c2e7a5b3d4f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";
        let welcome = pb::Welcome {
            device_id: "device-001".into(),
            session_token: token.into(),
            session_token_expires_at_ms: 1_764_000_000_000,
            database_epoch: "019a-epoch".into(),
            ..Default::default()
        };
        let hello = pb::Hello {
            sign_in: Some(pb::hello::SignIn::Password(pb::PasswordSignIn {
                officer_id: "officer-01".into(),
                password: "correct horse battery staple".into(),
            })),
            ..Default::default()
        };
        let reconnect = pb::Hello {
            sign_in: Some(pb::hello::SignIn::Token(pb::TokenSignIn { token: token.into() })),
            ..Default::default()
        };
        for printed in [
            format!("{welcome:?}"),
            format!("{welcome:#?}"),
            format!("{hello:?}"),
            format!("{reconnect:?}"),
        ] {
            assert!(!printed.contains(token), "{printed}");
            assert!(!printed.contains("correct horse"), "{printed}");
            assert!(printed.contains("***"), "{printed}");
        }
        let printed = format!("{welcome:?}");
        for shown in ["device-001", "1764000000000", "019a-epoch", "protocol_version"] {
            assert!(printed.contains(shown), "{shown} in {printed}");
        }
        assert!(format!("{hello:?}").contains("officer-01"));
        // An empty secret shows as empty: a log tells whether one was sent.
        assert!(format!("{:?}", pb::Welcome::default()).contains("session_token: \"\""));
    }
}
