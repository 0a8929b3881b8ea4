//! The library behind the `fieldlink` command: what the command line, the
//! fleet simulator and the tests share.
//!
//! - [`photos`]: real JPEG and PNG files with EXIF, as cameras write them.
#![forbid(unsafe_code)]

pub mod photos;
