//! The fieldlink terminal SDK.
//!
//! A terminal app builds a [`ClientConfig`] (server address, the agency CA,
//! its device certificate and key, the officer's sign-in), calls
//! [`Client::connect`], and submits items; each call returns a
//! [`pb::Receipt`](fieldlink_protocol::pb::Receipt) once the server has
//! durably stored the item, or an [`Error`] that says whether retrying can
//! help ([`Error::is_retryable`]).
//!
//! Items carry a client-generated UUIDv7. Sending the same item again (after
//! a timeout, a crash, a lost connection) is always safe: the server answers
//! with the original receipt.
#![forbid(unsafe_code)]

mod assignments;
mod client;
mod config;
mod connection;
mod error;
mod lossy_socket;
pub mod outbox;
mod photo;

pub use assignments::AssignmentFeed;
pub use client::Client;

/// Lower-level building blocks for tools that speak the protocol directly
/// (test harnesses, benchmarks, simulators): the QUIC client configuration
/// the SDK uses, an endpoint with its socket settings, and the hello exchange.
pub mod raw {
    pub use crate::connection::{
        client_endpoint, lossy_client_endpoint, open_raw_session, quic_client_config,
    };
}
pub use config::{ClientConfig, Credentials, RetryPolicy};
pub use connection::SDK_VERSION;
pub use error::Error;
pub use fieldlink_protocol as protocol;
pub use photo::{PhotoUpload, UploadProgress};

/// The current time in ms since the Unix epoch, as items' timestamps want it.
pub fn now_ms() -> i64 {
    connection::now_ms()
}
