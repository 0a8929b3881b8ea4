//! Supervisor sign-in for the console: a random session id in an HttpOnly,
//! SameSite=Strict cookie, expiring; and a CSRF token each state-changing
//! request must echo in the `X-CSRF-Token` header (a cross-site page can
//! neither read it nor send the header without a CORS preflight we never
//! grant). Kept in memory per node: a node restart signs supervisors out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::directory::Officer;

/// The cookie's name.
pub const COOKIE: &str = "fieldlink_console";

/// One signed-in supervisor.
#[derive(Clone)]
pub struct ConsoleSession {
    /// Who.
    pub officer: Officer,
    /// The token state-changing requests must echo.
    pub csrf_token: String,
    /// When the session ends, ms since the epoch.
    pub expires_at_ms: i64,
}

// Debug by hand: the CSRF token never reaches a log.
impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("officer", &self.officer.id)
            .field("csrf_token", &"***")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// The signed-in sessions, by session id.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSessions {
    sessions: Arc<Mutex<HashMap<String, ConsoleSession>>>,
}

/// Sessions one node keeps at most (old ones are dropped first).
const SESSIONS_MAX: usize = 10_000;

impl ConsoleSessions {
    /// Opens a session; returns its id.
    pub fn open(&self, officer: Officer, now_ms: i64, ttl_ms: i64) -> (String, ConsoleSession) {
        let id = crate::auth::new_session_token();
        let session = ConsoleSession {
            officer,
            csrf_token: crate::auth::new_session_token(),
            expires_at_ms: now_ms.saturating_add(ttl_ms),
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.expires_at_ms > now_ms);
        if sessions.len() >= SESSIONS_MAX {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires_at_ms)
                .map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<ConsoleSession> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(id).filter(|s| s.expires_at_ms > now_ms).cloned()
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// The `Set-Cookie` value for a session (`Secure` unless plain HTTP on loopback in dev).
pub fn set_cookie(id: &str, max_age_s: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")
}

/// The session id from a `Cookie` header, if it carries ours.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Role;

    fn supervisor() -> Officer {
        Officer {
            id: "supervisor-01".into(),
            name: "指挥员".into(),
            team_id: "command".into(),
            credential_number: None,
            credential_valid_from: None,
            credential_valid_until: None,
            role: Role::Supervisor,
            password_hash: String::new(),
            enrolled: true,
        }
    }

    #[test]
    fn the_csrf_token_is_not_in_debug_output() {
        let (_, session) = ConsoleSessions::default().open(supervisor(), 1_000, 500);
        let printed = format!("{session:?}");
        assert!(!printed.contains(&session.csrf_token), "{printed}");
        assert!(printed.contains("supervisor-01"), "{printed}");
    }

    #[test]
    fn sessions_expire_and_close() {
        let sessions = ConsoleSessions::default();
        let (id, session) = sessions.open(supervisor(), 1_000, 500);
        assert_eq!(sessions.get(&id, 1_400).unwrap().csrf_token, session.csrf_token);
        assert!(sessions.get(&id, 1_500).is_none(), "expired");
        let (id, _) = sessions.open(supervisor(), 2_000, 500);
        sessions.close(&id);
        assert!(sessions.get(&id, 2_001).is_none());
        assert!(sessions.get("forged", 2_001).is_none());
    }

    #[test]
    fn the_cookie_is_strict_and_http_only() {
        let cookie = set_cookie("abc", 60, true);
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure")
        );
        assert!(!set_cookie("abc", 60, false).contains("Secure"));
        assert_eq!(cookie_value("a=1; fieldlink_console=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("fieldlink_consolex=1"), None);
    }
}
