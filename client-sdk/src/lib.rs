#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// No panics on what a peer, a file or a user sent (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod assignments;
pub mod capture;
mod client;
mod config;
mod connection;
mod error;
pub mod evidence_export;
mod incidents;
pub mod items;
mod link;
mod log;
mod lossy_socket;
pub mod outbox;
mod photo;
mod position;
pub mod reference;

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
pub use config::{ClientConfig, Credentials, LogTrust, RetryPolicy, Transport};
pub use connection::SDK_VERSION;
pub use error::Error;
pub use fieldlink_protocol as protocol;
pub use log::VerifiedInclusion;
pub use photo::{PhotoUpload, Source as UploadSource, UploadProgress};

/// The current time in ms since the Unix epoch, as items' timestamps want it.
pub fn now_ms() -> i64 {
    connection::now_ms()
}

/// docs/integrating.md, compiled here so its examples are tests.
#[doc = include_str!("../../docs/integrating.md")]
#[doc(hidden)]
pub mod integrating_guide {}
