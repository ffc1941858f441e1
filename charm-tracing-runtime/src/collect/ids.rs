//! Random trace and span ids, without an RNG crate: std's `RandomState` is keyed from the
//! operating system's randomness once per thread and moves its key for each new state, and
//! SipHash of a counter under such a key is as unpredictable as ids need to be (W3C trace
//! context asks for random, not secret, ids).

use opentelemetry::trace::{SpanId, TraceId};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// 64 random bits.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A fresh, valid trace id.
pub(crate) fn new_trace_id() -> TraceId {
    loop {
        let id = (u128::from(random_u64()) << 64) | u128::from(random_u64());
        if id != 0 {
            return TraceId::from_bytes(id.to_be_bytes());
        }
    }
}

/// A fresh, valid span id.
pub(crate) fn new_span_id() -> SpanId {
    loop {
        let id = random_u64();
        if id != 0 {
            return SpanId::from_bytes(id.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let traces: std::collections::HashSet<TraceId> =
            (0..10_000).map(|_| new_trace_id()).collect();
        assert_eq!(traces.len(), 10_000);
        assert!(!traces.contains(&TraceId::INVALID));
        let spans: std::collections::HashSet<SpanId> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(spans.len(), 10_000);
        // Threads draw from their own keys and still do not collide.
        let other: Vec<SpanId> =
            std::thread::spawn(|| (0..10_000).map(|_| new_span_id()).collect())
                .join()
                .unwrap();
        assert!(other.iter().all(|id| !spans.contains(id)));
    }

    #[test]
    fn the_bits_look_random() {
        // Each bit set in about half of the draws.
        let draws: Vec<u64> = (0..4096).map(|_| random_u64()).collect();
        for bit in 0..64 {
            let set = draws.iter().filter(|d| *d >> bit & 1 == 1).count();
            assert!((1700..2400).contains(&set), "bit {bit}: {set} of 4096");
        }
    }
}
