//! The write-ahead disk buffer: one record per hook, kept until delivered. `format` is
//! public so the reader can be fuzzed.

pub mod format;
mod store;

pub(crate) use store::{BufferFile, LockedBuffer};
