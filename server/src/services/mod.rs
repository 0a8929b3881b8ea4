//! One file per request kind: validation, authorization, storage.

pub mod inspection;
