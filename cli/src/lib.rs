//! The library behind the `fieldlink` command: what the command line, the
//! fleet simulator and the tests share.
//!
//! - [`photos`]: real JPEG and PNG files with EXIF, as cameras write them.
//! - [`sim`]: the terminal fleet simulator behind `fieldlink sim`.
#![forbid(unsafe_code)]

pub mod photos;
pub mod sim;
