//! The fieldlink QUIC server.
//!
//! Entry points: [`server::start`] (tests, embedding) and [`server::run`]
//! (the binary). The flow of a record, top-down:
//!
//! - [`transport`] and [`tls`]: the UDP socket, QUIC settings, mutual TLS 1.3
//!   with the agency CA and CRL; the device id comes from the certificate.
//! - [`connection`]: serving one connection: the hello on the first stream,
//!   officer sign-in ([`auth`]) opening the [`session::Session`].
//! - [`request`]: one frame in, one response out, per stream.
//! - [`services`]: one file per request kind: validation against the
//!   [`catalogue`] and [`directory`], authorization, storage.
//! - [`storage`]: the narrow storage interface, SQLite backend, group commit.
//! - [`evidence`]: where photos are stored (content-addressed) and how they are checked.
//! - [`error`]: the one mapping from failures to wire statuses.
#![forbid(unsafe_code)]
// No panics on what a peer, a file or a user sent (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod certs;
pub mod checkpoint_signer;
pub mod clock;
pub mod config;
pub mod connection;
pub mod console;
pub mod custody;
pub mod database_epoch;
pub mod delivery_marks;
pub mod derived_id;
pub mod device_limits;
pub mod directory;
pub mod error;
pub mod evidence;
pub mod export;
pub mod export_index;
pub mod handshake_gate;
pub mod intake;
pub mod link;
pub mod metrics;
pub mod officer_routes;
pub mod password_checks;
pub mod positions;
pub mod presence;
pub mod published;
pub mod push;
pub mod relay;
pub mod reload;
pub mod request;
pub mod revocation;
pub mod server;
pub mod services;
pub mod session;
pub mod sign_in_guard;
pub mod sign_in_lockout;
pub mod state;
pub mod statistics;
pub mod storage;
pub mod stored_data;
pub mod stream_churn;
pub mod swappable;
pub mod tcp;
pub mod tile_template;
pub mod tls;
pub mod token_bucket;
pub mod transparency;
pub mod transport;
pub mod witness;
pub mod witness_client;

pub use config::Config;
pub use server::{run, start, RunningServer, ServerError};
