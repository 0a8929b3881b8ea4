//! The library behind the `fieldlink` command: what the command line, the
//! fleet simulator and the tests share.
//!
//! - [`photos`]: real JPEG and PNG files with EXIF, as cameras write them.
//! - [`sim`]: the terminal fleet simulator behind `fieldlink sim`.
//! - [`sim_monitors`]: its HJ 212 monitors.
//! - [`sim_reporters`]: its grid workers and AI-video cameras.
#![forbid(unsafe_code)]
// No panics on what a peer, a file or a user sent (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod photos;
pub mod sim;
pub mod sim_monitors;
pub mod sim_reporters;
