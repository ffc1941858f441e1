//! The test harness's sink: the hook's record is kept for the test instead of delivered.

use crate::collect::session::{SealedTrace, Sink};
use std::sync::{Mutex, PoisonError};

/// Keeps the encoded record of a hook run under `testing`.
#[derive(Debug, Default)]
pub(crate) struct Capture(Mutex<Option<Vec<u8>>>);

impl Capture {
    /// The record, once the session has ended (once).
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Sink for Capture {
    fn accept(&self, trace: SealedTrace<'_>) {
        let record = crate::export::encode::encode_request(&trace);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(record);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
