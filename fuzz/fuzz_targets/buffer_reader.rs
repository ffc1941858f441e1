//! The buffer reader on arbitrary bytes: it must never panic or hang, and what it reports
//! must account for every byte. Run with `cargo +nightly fuzz run buffer_reader`.
#![no_main]

use charm_tracing_runtime::buffer::format::{self, FRAME_HEADER_LEN, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let parsed = format::parse(bytes);
    let bad: usize = parsed.bad.iter().map(|r| r.len()).sum();
    let good: usize = parsed.records.iter().map(|r| r.len() + FRAME_HEADER_LEN).sum();
    let header = if format::header_ok(bytes) { HEADER_LEN } else { 0 };
    assert_eq!(header + good + bad, bytes.len());
});
