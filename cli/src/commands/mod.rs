//! The `fieldlink` command families, one module each, and what they share:
//! the connection flags ([`connection`]), the error and exit codes
//! ([`error`]) and the JSON lines they print ([`output`]).

pub mod assignments;
pub mod case;
pub mod connection;
pub mod dispatch;
pub mod error;
pub mod example;
pub mod incidents;
pub mod monitor;
pub mod outbox;
pub mod output;
pub mod photo;
pub mod proof;
pub mod sim;
pub mod stats;
pub mod submit;
pub mod verify;
