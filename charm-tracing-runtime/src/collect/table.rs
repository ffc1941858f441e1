//! The span table of one session: an append-only arena of span slots that any thread adds to
//! with one atomic add, and the trace's size budget, counted by that same add.
//!
//! A slot is taken by `fetch_add` on one counter whose high bits count slots and whose low
//! bits count the bytes the trace would take once encoded (an upper bound). The opener writes
//! its record into the slot and publishes it; the record never changes after that, except its
//! end (an atomic). What changes later (attributes, events, errors, a new name) goes to an
//! overlay copy of the record under a lock: that is rare, and the hot path takes no lock.
//!
//! Slots live in chunks of doubling size that never move, so a published record stays where
//! it is while other threads add more, and memory grows with the spans, never with copies.

use crate::collect::record::{SpanRecord, Stamp};
use opentelemetry::trace::SpanId;
use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Bits of the counter that count bytes (the rest count slots).
const BYTE_BITS: u32 = 36;
const BYTE_MASK: u64 = (1 << BYTE_BITS) - 1;
const ONE_SLOT: u64 = 1 << BYTE_BITS;
/// The first chunk's slots; chunk `k` has `FIRST_CHUNK << k`.
const FIRST_CHUNK: usize = 64;
const CHUNKS: usize = crate::collect::chunk::SIZES;

const EMPTY: u8 = 0;
const LIVE: u8 = 1;
/// Taken, but the call was folded instead (it would not fit the budget).
const VOID: u8 = 2;
/// Its record was finished by the seal (ended, its overlay put in): read-only from then on.
const SEALED: u8 = 3;

/// One slot. All zeroes is an empty slot, so chunks come from zeroed memory.
struct Slot {
    state: AtomicU8,
    /// The span's end; zero while it is open.
    end: AtomicU64,
    record: UnsafeCell<MaybeUninit<SpanRecord>>,
}

/// Where a span was put, when [`SpanTable::open`] records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    pub index: usize,
    pub span_id: SpanId,
}

/// Why [`SpanTable::open`] did not record a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The budget for spans is spent: fold the call.
    Full,
    /// The session has ended.
    Sealed,
}

/// The size bounds of a trace, in encoded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// New spans are recorded while the trace stays under this; later ones are folded.
    pub spans: u64,
    /// Nothing is added past this (fold spans, events, attributes, errors).
    pub total: u64,
}

impl Budget {
    /// The bounds for a record of at most `max_bytes`: a little for the request's envelope,
    /// an eighth of the rest kept for fold spans and what open spans still gain.
    pub(crate) fn for_record(max_bytes: u64) -> Self {
        // At most 1 GiB: at 80 bytes or more a span, far fewer slots than the counter's 28
        // bits count.
        let total = max_bytes.saturating_sub(ENVELOPE_BYTES).min(MAX_BUDGET);
        Budget {
            spans: total - total / 8,
            total,
        }
    }
}

/// The largest budget a trace gets, whatever `trace_max_size_kib` says.
pub(crate) const MAX_BUDGET: u64 = 1 << 30;

/// What the request around the spans takes at most, beyond the resource's attributes (which
/// are counted when the session starts): the resource, scope and request framing.
const ENVELOPE_BYTES: u64 = 512;

/// The spans of one session.
pub(crate) struct SpanTable {
    counter: AtomicU64,
    chunks: [AtomicPtr<Slot>; CHUNKS],
    budget: Budget,
    /// Set once a call did not fit: later calls fold without touching the counter.
    folding: AtomicBool,
    sealed: AtomicBool,
    /// The slots the seal took (valid once `sealed` is set; `usize::MAX` before).
    sealed_at: AtomicUsize,
    /// Makes span ids from slot numbers: unique per slot, cheap, unpredictable across sessions.
    id_key: u64,
    /// Records changed after they were published, by slot.
    overlays: Mutex<HashMap<usize, SpanRecord>>,
}

// What the table hands between threads must be safe to: checked here, since the impls below
// would claim it otherwise.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<SpanRecord>();
};

// SAFETY: a slot's record is written once, by the thread that took the slot, before the
// slot is published with a release store; every other access reads it after an acquire load
// of that state, and only `Drop` (with `&mut self`) drops it. Everything else is atomic or
// behind a lock.
unsafe impl Sync for SpanTable {}
unsafe impl Send for SpanTable {}

/// The chunk and offset of slot `index`.
#[inline(always)]
fn locate(index: usize) -> (usize, usize) {
    let run = index / FIRST_CHUNK + 1;
    let chunk = (usize::BITS - 1 - run.leading_zeros()) as usize;
    (chunk, index - FIRST_CHUNK * ((1 << chunk) - 1))
}

fn chunk_layout(chunk: usize) -> Option<Layout> {
    let slots = FIRST_CHUNK.checked_shl(u32::try_from(chunk).ok()?)?;
    Layout::array::<Slot>(slots).ok().filter(|l| l.size() > 0)
}

/// A bijective mix of 64 bits (SplitMix64's finaliser).
#[inline(always)]
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The span id of slot number `n` of a table keyed `key` (fold spans use numbers with the
/// top bit set): distinct numbers give distinct ids.
#[inline(always)]
pub(crate) fn span_id_for(key: u64, n: u64) -> SpanId {
    let id = mix(key.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    SpanId::from_bytes(if id == 0 { 1 } else { id }.to_be_bytes())
}

impl SpanTable {
    /// A table whose slot 0 is `root`, with `used` bytes already taken (the root's and the
    /// resource's).
    pub(crate) fn new(root: SpanRecord, budget: Budget, used: u64, id_key: u64) -> Self {
        let table = SpanTable {
            counter: AtomicU64::new(0),
            chunks: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            budget,
            folding: AtomicBool::new(false),
            sealed: AtomicBool::new(false),
            sealed_at: AtomicUsize::new(usize::MAX),
            id_key,
            overlays: Mutex::new(HashMap::new()),
        };
        table
            .counter
            .store(ONE_SLOT | used.min(BYTE_MASK), Ordering::Relaxed);
        if let Some(slot) = table.slot_or_alloc(0) {
            // SAFETY: slot 0 was taken above by this thread; nobody else sees the table yet.
            unsafe { (*slot.record.get()).write(root) };
            slot.state.store(LIVE, Ordering::Release);
        }
        table
    }

    /// The key span ids are made from.
    pub(crate) fn id_key(&self) -> u64 {
        self.id_key
    }

    /// Whether calls are being folded (the budget for spans is spent).
    #[inline(always)]
    pub(crate) fn is_folding(&self) -> bool {
        self.folding.load(Ordering::Relaxed)
    }

    /// Whether the budget for spans is spent (only the reserve is left).
    pub(crate) fn is_tight(&self) -> bool {
        self.counter.load(Ordering::Relaxed) & BYTE_MASK >= self.budget.spans
    }

    /// Whether spans are still taken (not sealed).
    #[inline(always)]
    pub(crate) fn is_open(&self) -> bool {
        !self.sealed.load(Ordering::Acquire)
    }

    /// Records the span in `record` (taking it; its span id is set here) if the session is
    /// open and the span fits the budget. Refused, it leaves `record` where it is, to be
    /// folded.
    #[inline]
    pub(crate) fn open(
        &self,
        record: &mut Option<SpanRecord>,
        bytes: u64,
    ) -> Result<Placed, Refused> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(Refused::Sealed);
        }
        if self.folding.load(Ordering::Relaxed) {
            return Err(Refused::Full);
        }
        // Sequentially consistent with the seal's store of `sealed` and its read of the
        // counter: a slot taken after the seal counted the slots sees `sealed` below.
        let before = self.counter.fetch_add(ONE_SLOT | bytes, Ordering::SeqCst);
        let index = (before >> BYTE_BITS) as usize;
        let fits = (before & BYTE_MASK) + bytes <= self.budget.spans;
        let Some(slot) = self.slot_or_alloc(index) else {
            self.folding.store(true, Ordering::Relaxed);
            return Err(Refused::Full);
        };
        if self.sealed.load(Ordering::SeqCst) && !self.counted_by_seal(index) {
            // Taken after the seal counted the slots: nobody will read it.
            slot.state.store(VOID, Ordering::Release);
            return Err(Refused::Sealed);
        }
        if !fits {
            self.folding.store(true, Ordering::Relaxed);
            self.counter.fetch_sub(bytes, Ordering::AcqRel);
            slot.state.store(VOID, Ordering::Release);
            return Err(Refused::Full);
        }
        let Some(mut taken) = record.take() else {
            slot.state.store(VOID, Ordering::Release);
            return Err(Refused::Full);
        };
        let span_id = span_id_for(self.id_key, index as u64);
        taken.span_id = span_id;
        // SAFETY: slot `index` was taken by the `fetch_add` above, by this thread alone, and
        // is not published yet.
        unsafe { (*slot.record.get()).write(taken) };
        slot.state.store(LIVE, Ordering::Release);
        Ok(Placed { index, span_id })
    }

    /// Whether the seal (under way) reads slot `index`: it counted the slots taken before it.
    #[cold]
    fn counted_by_seal(&self, index: usize) -> bool {
        for _ in 0..100_000 {
            let at = self.sealed_at.load(Ordering::SeqCst);
            if at != usize::MAX {
                return index < at;
            }
            std::hint::spin_loop();
        }
        false
    }

    /// Takes `bytes` more of the whole budget (a fold span, an event), if they fit.
    pub(crate) fn charge(&self, bytes: u64) -> bool {
        let total = self.budget.total;
        self.counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                ((now & BYTE_MASK) + bytes <= total).then_some(now + bytes)
            })
            .is_ok()
    }

    /// Bytes taken so far (an upper bound of the encoded spans).
    pub(crate) fn bytes_used(&self) -> u64 {
        self.counter.load(Ordering::Acquire) & BYTE_MASK
    }

    fn slots_taken(&self) -> usize {
        (self.counter.load(Ordering::Acquire) >> BYTE_BITS) as usize
    }

    /// Slot `index`, allocating its chunk if this is the first use.
    #[inline]
    fn slot_or_alloc(&self, index: usize) -> Option<&Slot> {
        let (chunk, offset) = locate(index);
        let cell = self.chunks.get(chunk)?;
        let mut base = cell.load(Ordering::Acquire);
        if base.is_null() {
            base = self.alloc_chunk(chunk)?;
        }
        // SAFETY: `base` points to a live chunk of `FIRST_CHUNK << chunk` slots and `offset`
        // is below that.
        Some(unsafe { &*base.add(offset) })
    }

    #[cold]
    fn alloc_chunk(&self, chunk: usize) -> Option<*mut Slot> {
        let layout = chunk_layout(chunk)?;
        // Zeroed memory is a chunk of empty slots.
        let fresh = crate::collect::chunk::alloc_zeroed(layout, chunk).cast::<Slot>();
        if fresh.is_null() {
            return None;
        }
        let cell = &self.chunks[chunk];
        match cell.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Some(fresh),
            Err(theirs) => {
                // SAFETY: `fresh` was allocated above for this chunk and never shared.
                unsafe { crate::collect::chunk::free(fresh.cast(), layout, chunk) };
                Some(theirs)
            }
        }
    }

    /// Slot `index` if its chunk exists.
    fn slot(&self, index: usize) -> Option<&Slot> {
        let (chunk, offset) = locate(index);
        let base = self.chunks.get(chunk)?.load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: as in `slot_or_alloc`.
        Some(unsafe { &*base.add(offset) })
    }

    /// The published record of slot `index`.
    fn record(&self, index: usize) -> Option<(&SpanRecord, &Slot)> {
        let slot = self.slot(index)?;
        if slot.state.load(Ordering::Acquire) != LIVE {
            return None;
        }
        // SAFETY: a LIVE slot's record was written before the release store just observed;
        // after that only the seal writes it, under the overlay lock, which the caller holds
        // (`update` is the only caller).
        Some((unsafe { (*slot.record.get()).assume_init_ref() }, slot))
    }

    /// Ends span `index` at `end`; ending twice keeps the first end. Returns whether this
    /// ended it.
    #[inline]
    pub(crate) fn end(&self, index: usize, end: Stamp) -> bool {
        match self.slot(index) {
            Some(slot) if slot.end.load(Ordering::Relaxed) == 0 => {
                slot.end.store(end.raw(), Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// Runs `f` on the (overlay of the) open span `index`.
    pub(crate) fn update<R>(
        &self,
        index: usize,
        f: impl FnOnce(&mut SpanRecord) -> R,
    ) -> Option<R> {
        // Under the lock the seal holds while it moves the records out.
        let mut overlays = self.lock_overlays();
        if self.sealed.load(Ordering::Acquire) {
            return None;
        }
        let (record, slot) = self.record(index)?;
        if slot.end.load(Ordering::Acquire) != 0 {
            return None;
        }
        let overlay = overlays.entry(index).or_insert_with(|| record.clone());
        Some(f(overlay))
    }

    fn lock_overlays(&self) -> MutexGuard<'_, HashMap<usize, SpanRecord>> {
        self.overlays.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops recording and finishes every published span where it is: open ones end at
    /// `now`, changed ones take their overlay. Returns the number of slots the seal covers;
    /// [`SpanTable::sealed`] reads them. Sealing again changes nothing.
    pub(crate) fn seal(&self, now: Stamp) -> usize {
        let mut overlays = self.lock_overlays();
        if self.sealed.swap(true, Ordering::SeqCst) {
            return self.sealed_at.load(Ordering::SeqCst);
        }
        let taken = (self.counter.load(Ordering::SeqCst) >> BYTE_BITS) as usize;
        self.sealed_at.store(taken, Ordering::SeqCst);
        let mut overlays = std::mem::take(&mut *overlays);
        for index in 0..taken {
            // A slot is published a few instructions after it is taken (its chunk perhaps
            // allocated first); wait for it briefly.
            let mut spins = 0u32;
            let slot = loop {
                match self.slot(index) {
                    Some(slot) => break Some(slot),
                    None if spins < 20_000 => {
                        spins += 1;
                        std::thread::yield_now();
                    }
                    None => break None,
                }
            };
            let Some(slot) = slot else {
                continue;
            };
            while slot.state.load(Ordering::Acquire) == EMPTY && spins < 20_000 {
                spins += 1;
                if spins.is_multiple_of(64) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            if slot.state.load(Ordering::Acquire) != LIVE {
                continue;
            }
            // SAFETY: a LIVE record is initialised. Its only other reader, `update`, takes the
            // overlay lock held here and stops once `sealed` is set; after the SEALED store
            // below it is only read.
            let record = unsafe { (*slot.record.get()).assume_init_mut() };
            if let Some(overlay) = overlays.remove(&index) {
                *record = overlay;
            }
            let end = slot.end.load(Ordering::Acquire);
            record.end = if end == 0 { now } else { Stamp::from_raw(end) };
            slot.state.store(SEALED, Ordering::Release);
        }
        taken
    }

    /// The record of slot `index`, once the seal has finished it.
    pub(crate) fn sealed(&self, index: usize) -> Option<&SpanRecord> {
        let slot = self.slot(index)?;
        if slot.state.load(Ordering::Acquire) != SEALED {
            return None;
        }
        // SAFETY: a SEALED record is initialised and never written again (the seal runs
        // once); only `Drop`, with `&mut self`, drops it.
        Some(unsafe { (*slot.record.get()).assume_init_ref() })
    }
}

impl Drop for SpanTable {
    fn drop(&mut self) {
        let taken = self.slots_taken();
        for index in 0..taken {
            if let Some(slot) = self.slot(index)
                && matches!(slot.state.load(Ordering::Acquire), LIVE | SEALED)
            {
                // SAFETY: a LIVE or SEALED record was initialised and is dropped once, here.
                unsafe { (*slot.record.get()).assume_init_drop() };
            }
        }
        for (chunk, cell) in self.chunks.iter().enumerate() {
            let base = cell.load(Ordering::Acquire);
            if !base.is_null()
                && let Some(layout) = chunk_layout(chunk)
            {
                // SAFETY: allocated in `alloc_chunk` for this chunk.
                unsafe { crate::collect::chunk::free(base.cast(), layout, chunk) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn root() -> SpanRecord {
        SpanRecord::open(
            Cow::Borrowed("root"),
            SpanId::from_bytes([9; 8]),
            SpanId::INVALID,
        )
    }

    /// Seals `table`; its sealed records, in slot order.
    fn seal(table: &SpanTable) -> Vec<&SpanRecord> {
        let taken = table.seal(Stamp::now());
        (0..taken).filter_map(|index| table.sealed(index)).collect()
    }

    fn open(table: &SpanTable, name: &'static str, parent: SpanId) -> Option<Placed> {
        let record = SpanRecord::open(Cow::Borrowed(name), SpanId::INVALID, parent);
        table.open(&mut Some(record), 100).ok()
    }

    #[test]
    fn slots_map_to_chunks_of_doubling_size_without_gaps() {
        let mut expected = (0, 0);
        for index in 0..FIRST_CHUNK * 40 {
            let located = locate(index);
            assert_eq!(located, expected, "slot {index}");
            expected.1 += 1;
            if expected.1 == FIRST_CHUNK << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
    }

    #[test]
    fn span_ids_are_distinct_and_valid() {
        let ids: std::collections::HashSet<SpanId> =
            (0..100_000u64).map(|n| span_id_for(42, n)).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(!ids.contains(&SpanId::INVALID));
        assert_ne!(span_id_for(1, 5), span_id_for(2, 5), "keyed per session");
    }

    #[test]
    fn spans_are_recorded_until_the_budget_then_folded() {
        let budget = Budget {
            spans: 1_000,
            total: 1_200,
        };
        let table = SpanTable::new(root(), budget, 150, 7);
        let mut placed = Vec::new();
        while let Some(p) = open(&table, "call", SpanId::INVALID) {
            placed.push(p);
        }
        // 150 + 8 × 100 = 950 fits; a ninth would make 1050.
        assert_eq!(placed.len(), 8);
        assert!(table.is_folding());
        assert_eq!(
            table.bytes_used(),
            950,
            "the refused call gave its bytes back"
        );
        assert!(open(&table, "call", SpanId::INVALID).is_none());
        assert!(table.charge(250), "the reserve is there for folds");
        assert!(!table.charge(1), "never past the total");
        let sealed = seal(&table);
        assert_eq!(
            sealed.len(),
            9,
            "the root and the 8 recorded, not the void slot"
        );
    }

    #[test]
    fn ends_overlays_and_seal() {
        let table = SpanTable::new(root(), Budget::for_record(1 << 20), 0, 1);
        let a = open(&table, "a", SpanId::INVALID).unwrap();
        let b = open(&table, "b", a.span_id).unwrap();
        table.update(b.index, |r| r.name = Cow::Borrowed("b renamed"));
        let end = Stamp::now();
        assert!(table.end(b.index, end));
        assert!(!table.end(b.index, Stamp::now()), "the first end is kept");
        assert!(
            table.update(b.index, |_| ()).is_none(),
            "a closed span takes no changes"
        );
        let sealed = seal(&table);
        let names: Vec<&str> = sealed.iter().map(|r| r.name.as_ref()).collect();
        assert_eq!(names, ["root", "a", "b renamed"]);
        assert_eq!(sealed[2].end, end);
        assert!(sealed[1].end.is_set(), "open spans end at the seal");
        assert_eq!(sealed[2].parent_id, a.span_id);
        assert!(
            open(&table, "late", SpanId::INVALID).is_none(),
            "nothing after the seal"
        );
        let sealed_end = table.sealed(a.index).unwrap().end;
        table.end(a.index, Stamp::now());
        assert!(
            table
                .update(a.index, |r| r.name = Cow::Borrowed("late"))
                .is_none()
        );
        assert_eq!(table.seal(Stamp::now()), 3, "sealing again changes nothing");
        let a_sealed = table.sealed(a.index).unwrap();
        assert_eq!((a_sealed.name.as_ref(), a_sealed.end), ("a", sealed_end));
    }

    #[test]
    fn threads_add_spans_at_once_and_none_is_lost() {
        let table = SpanTable::new(root(), Budget::for_record(1 << 30), 0, 3);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..5_000 {
                        let p = open(&table, "t", SpanId::INVALID).unwrap();
                        table.end(p.index, Stamp::now());
                    }
                });
            }
        });
        let sealed = seal(&table);
        assert_eq!(sealed.len(), 20_001);
        let ids: std::collections::HashSet<SpanId> = sealed.iter().map(|r| r.span_id).collect();
        assert_eq!(ids.len(), 20_001);
    }
}
