//! Folded calls: once a trace's span budget is spent, calls are no longer recorded one by
//! one but counted in a fold span per (parent, name), which keeps how many calls it stands
//! for, their total and longest duration, and how many failed.
//!
//! A thread folds its synchronous calls into its own lane: fold spans that only it writes,
//! with plain loads and stores, so a folded call costs less than a recorded one and takes no
//! lock. Calls that may end on another thread (async spans, `tracing` and OpenTelemetry API
//! spans) fold into the session's shared folds, under a lock.

use crate::collect::record::{SpanRecord, Stamp, StatusRecord};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanId;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// The most fold spans one thread's lane holds; more go to the shared folds.
const LANE_FOLDS: usize = 128;

/// What one fold span takes in the record at most, besides its name.
pub(crate) const FOLD_BYTES: u64 = 400;

/// The fold span that stands for calls nothing else has room for.
pub(crate) const CATCH_ALL_NAME: &str = "charm_tracing: folded calls";

/// The attribute that counts the calls a fold span stands for.
pub(crate) const FOLDED_CALLS: &str = "charm_tracing.folded_calls";

/// A fold of a thread's calls times each of its first calls; past them, one call in
/// `SAMPLE_EVERY` (reading the clock is most of what a folded call would cost), and the total
/// duration is scaled from the timed calls.
const TIMED_FIRST: u64 = 1024;
const SAMPLE_EVERY: u64 = 16;

/// One fold span while the hook runs.
#[derive(Debug)]
pub(crate) struct Fold {
    pub name: Cow<'static, str>,
    pub parent_id: SpanId,
    pub span_id: SpanId,
    pub first_start: Stamp,
    calls: AtomicU64,
    /// Calls that ended (the others were still running at the seal).
    ended: AtomicU64,
    /// Ended calls that were timed (the durations are theirs).
    timed: AtomicU64,
    total_ticks: AtomicU64,
    max_ticks: AtomicU64,
    failures: AtomicU64,
    last_end: AtomicU64,
}

impl Fold {
    pub(crate) fn new(
        name: Cow<'static, str>,
        parent_id: SpanId,
        span_id: SpanId,
        start: Stamp,
    ) -> Self {
        Fold {
            name,
            parent_id,
            span_id,
            first_start: start,
            calls: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            timed: AtomicU64::new(0),
            total_ticks: AtomicU64::new(0),
            max_ticks: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_end: AtomicU64::new(0),
        }
    }

    fn matches(&self, parent_id: SpanId, name: &str) -> bool {
        self.parent_id == parent_id
            && (std::ptr::eq(self.name.as_ptr(), name.as_ptr()) && self.name.len() == name.len()
                || self.name == name)
    }

    /// Counts a call, by the only thread that writes this fold.
    #[inline(always)]
    fn add_call_owned(&self) -> bool {
        let calls = self.calls.load(Ordering::Relaxed);
        self.calls.store(calls + 1, Ordering::Relaxed);
        calls < TIMED_FIRST || calls.is_multiple_of(SAMPLE_EVERY)
    }

    /// Ends a call, by the only thread that writes this fold; an untimed call (`start`
    /// unset) is only counted.
    #[inline(always)]
    fn end_call_owned(&self, start: Stamp, end: Stamp, failed: bool) {
        let store = |cell: &AtomicU64, value: u64| cell.store(value, Ordering::Relaxed);
        store(&self.ended, self.ended.load(Ordering::Relaxed) + 1);
        if failed {
            store(&self.failures, self.failures.load(Ordering::Relaxed) + 1);
        }
        if !start.is_set() || !end.is_set() {
            return;
        }
        let took = duration_ticks(start, end);
        store(&self.timed, self.timed.load(Ordering::Relaxed) + 1);
        store(
            &self.total_ticks,
            self.total_ticks
                .load(Ordering::Relaxed)
                .saturating_add(took),
        );
        if took > self.max_ticks.load(Ordering::Relaxed) {
            store(&self.max_ticks, took);
        }
        self.last_end.store(end.raw(), Ordering::Release);
    }

    /// Counts a call, from any thread.
    fn add_call_shared(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends a call, from any thread.
    fn end_call_shared(&self, start: Stamp, end: Stamp, failed: bool) {
        let took = duration_ticks(start, end);
        self.ended.fetch_add(1, Ordering::Relaxed);
        self.timed.fetch_add(1, Ordering::Relaxed);
        self.total_ticks.fetch_add(took, Ordering::Relaxed);
        self.max_ticks.fetch_max(took, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.last_end.fetch_max(end.raw(), Ordering::AcqRel);
    }

    /// The calls counted so far.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Acquire)
    }

    /// The fold as a span: named like its calls, under their parent, from the first call's
    /// start to the last one's end, with the counts as attributes; failed if any call failed.
    pub(crate) fn to_record(&self, now: Stamp, ticks_to_nanos: impl Fn(u64) -> u64) -> SpanRecord {
        let calls = self.calls.load(Ordering::Acquire);
        let ended = self.ended.load(Ordering::Acquire);
        let timed = self.timed.load(Ordering::Acquire);
        let failures = self.failures.load(Ordering::Acquire);
        let timed_total = self.total_ticks.load(Ordering::Acquire);
        // The ended calls' total, scaled from the timed ones (exact when all were timed).
        let total = if timed == 0 || timed == ended {
            timed_total
        } else {
            u64::try_from(u128::from(timed_total) * u128::from(ended) / u128::from(timed))
                .unwrap_or(u64::MAX)
        };
        let last_end = self.last_end.load(Ordering::Acquire);
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut record = SpanRecord::open(self.name.clone(), self.span_id, self.parent_id);
        record.start = self.first_start;
        record.end = if ended < calls || last_end == 0 {
            now
        } else {
            Stamp::from_raw(last_end)
        };
        let details = record.details_mut();
        details.attributes = vec![
            KeyValue::new(FOLDED_CALLS, int(calls)),
            KeyValue::new(
                "charm_tracing.folded_duration_total_ns",
                int(ticks_to_nanos(total)),
            ),
            KeyValue::new(
                "charm_tracing.folded_duration_max_ns",
                int(ticks_to_nanos(self.max_ticks.load(Ordering::Acquire))),
            ),
            KeyValue::new("charm_tracing.folded_timed_calls", int(timed)),
            KeyValue::new("charm_tracing.folded_failures", int(failures)),
        ];
        if failures > 0 {
            details.status =
                StatusRecord::Error(format!("{failures} of {calls} folded calls failed"));
        }
        record
    }
}

fn duration_ticks(start: Stamp, end: Stamp) -> u64 {
    if !start.is_set() || !end.is_set() {
        return 0;
    }
    match (start.ticks_or_unix(), end.ticks_or_unix()) {
        (Ok(start), Ok(end)) | (Err(start), Err(end)) => end.saturating_sub(start),
        _ => 0,
    }
}

/// The fold spans one thread writes for one session.
#[derive(Debug)]
pub(crate) struct Lane {
    session: u64,
    /// Tells this lane from the thread's other lanes in a folded call's index.
    tag: u16,
    folds: Box<[OnceLock<Fold>]>,
    len: AtomicUsize,
    /// The fold the last call went to: a loop hits it every time.
    last: AtomicUsize,
}

impl Lane {
    fn new(session: u64) -> Self {
        static TAGS: AtomicU64 = AtomicU64::new(0);
        Lane {
            session,
            tag: (TAGS.fetch_add(1, Ordering::Relaxed) & 0xFFF) as u16,
            folds: (0..LANE_FOLDS).map(|_| OnceLock::new()).collect(),
            len: AtomicUsize::new(0),
            last: AtomicUsize::new(0),
        }
    }

    /// The folds published so far.
    pub(crate) fn folds(&self) -> impl Iterator<Item = &Fold> {
        let len = self.len.load(Ordering::Acquire);
        self.folds[..len].iter().filter_map(OnceLock::get)
    }

    #[inline(always)]
    fn find(&self, parent_id: SpanId, name: &str) -> Option<usize> {
        let last = self.last.load(Ordering::Relaxed);
        if self
            .folds
            .get(last)
            .and_then(OnceLock::get)
            .is_some_and(|f| f.matches(parent_id, name))
        {
            return Some(last);
        }
        let len = self.len.load(Ordering::Relaxed);
        let found = self.folds[..len]
            .iter()
            .position(|f| f.get().is_some_and(|f| f.matches(parent_id, name)))?;
        self.last.store(found, Ordering::Relaxed);
        Some(found)
    }
}

/// How many lanes (sessions) a thread keeps at hand; older ones stay with their sessions.
const LANES_KEPT: usize = 4;

/// This thread's lanes, the newest first. Dropping them (at thread exit) clears
/// `LANE_PTR`.
struct Lanes(Vec<Arc<Lane>>);

impl Drop for Lanes {
    fn drop(&mut self) {
        let _ = LANE_PTR.try_with(|ptr| ptr.set(std::ptr::null()));
    }
}

thread_local! {
    /// The lanes of the sessions this thread last folded calls of.
    static LANES: RefCell<Lanes> = const { RefCell::new(Lanes(Vec::new())) };
    /// The newest of them, for the hot path: kept in step with `LANES`, which keeps it alive.
    static LANE_PTR: Cell<*const Lane> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` on this thread's lane for `session`: the newest lane at once, another one found
/// (or made, with `make`) and moved to the front.
#[inline(always)]
fn with_lane<R>(
    session: u64,
    make: Option<&dyn Fn() -> Arc<Lane>>,
    f: impl FnOnce(&Lane) -> Option<R>,
) -> Option<R> {
    let newest = LANE_PTR.try_with(Cell::get).ok()?;
    // SAFETY: `LANE_PTR` is null or the address of the front lane of `LANES`, which holds an
    // `Arc` of it (both change together, and dropping `LANES` clears it); `f` does not touch
    // `LANES`.
    if let Some(lane) = unsafe { newest.as_ref() }
        && lane.session == session
    {
        return f(lane);
    }
    with_other_lane(session, make, f)
}

/// [`with_lane`] when the newest lane is another session's.
#[cold]
#[inline(never)]
fn with_other_lane<R>(
    session: u64,
    make: Option<&dyn Fn() -> Arc<Lane>>,
    f: impl FnOnce(&Lane) -> Option<R>,
) -> Option<R> {
    LANES
        .try_with(|lanes| {
            let mut lanes = lanes.try_borrow_mut().ok()?;
            let lanes = &mut lanes.0;
            match lanes.iter().position(|l| l.session == session) {
                Some(at) => lanes[..=at].rotate_right(1),
                None => {
                    lanes.insert(0, make?());
                    lanes.truncate(LANES_KEPT);
                }
            }
            let _ = LANE_PTR.try_with(|ptr| ptr.set(Arc::as_ptr(&lanes[0])));
            f(&lanes[0])
        })
        .ok()
        .flatten()
}

/// A session's folds: every thread's lane and the shared folds.
#[derive(Debug, Default)]
pub(crate) struct Folds {
    inner: Mutex<FoldsInner>,
    next_number: AtomicU64,
}

#[derive(Debug, Default)]
struct FoldsInner {
    lanes: Vec<Arc<Lane>>,
    shared: Vec<Arc<Fold>>,
    by_key: HashMap<(SpanId, Cow<'static, str>), usize>,
}

/// Where a folded call was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FoldRef {
    /// Fold `n` of the calling thread's lane tagged `tag`.
    Lane { tag: u16, n: usize },
    /// Shared fold `n`.
    Shared(usize),
}

/// What a fold needs from its session: its identity, the budget and fresh span ids.
pub(crate) trait FoldHost {
    /// Distinguishes sessions for the threads' lanes.
    fn session_number(&self) -> u64;
    /// Takes `bytes` of the trace's budget, if they fit.
    fn charge(&self, bytes: u64) -> bool;
    /// The span id of fold number `n`.
    fn fold_span_id(&self, n: u64) -> SpanId;
    /// The root span's id, the catch-all fold's parent.
    fn root_id(&self) -> SpanId;
}

impl Folds {
    fn lock(&self) -> MutexGuard<'_, FoldsInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_id(&self, host: &impl FoldHost) -> SpanId {
        host.fold_span_id(self.next_number.fetch_add(1, Ordering::Relaxed))
    }

    /// Counts a synchronous call (one that ends on this thread) named `name` under `parent`.
    #[inline(always)]
    pub(crate) fn fold_call(
        &self,
        host: &impl FoldHost,
        name: Cow<'static, str>,
        parent: SpanId,
    ) -> Option<(FoldRef, SpanId, Stamp)> {
        let make = || {
            let fresh = Arc::new(Lane::new(host.session_number()));
            self.lock().lanes.push(fresh.clone());
            fresh
        };
        let in_lane = with_lane(host.session_number(), Some(&make), |lane| {
            let n = match lane.find(parent, &name) {
                Some(n) => n,
                None => {
                    let n = lane.len.load(Ordering::Relaxed);
                    if n == LANE_FOLDS || !host.charge(FOLD_BYTES + name.len() as u64) {
                        return None;
                    }
                    let fold = Fold::new(name.clone(), parent, self.fresh_id(host), Stamp::now());
                    lane.folds[n].set(fold).ok()?;
                    lane.len.store(n + 1, Ordering::Release);
                    lane.last.store(n, Ordering::Relaxed);
                    n
                }
            };
            let fold = lane.folds[n].get()?;
            let start = if fold.add_call_owned() {
                Stamp::now()
            } else {
                Stamp::UNSET
            };
            Some((FoldRef::Lane { tag: lane.tag, n }, fold.span_id, start))
        });
        match in_lane {
            Some(folded) => Some(folded),
            None => {
                let start = Stamp::now();
                let (fold, span_id) = self.fold_shared(host, name, parent, start)?;
                Some((fold, span_id, start))
            }
        }
    }

    /// Counts a call that may end on any thread.
    pub(crate) fn fold_shared(
        &self,
        host: &impl FoldHost,
        name: Cow<'static, str>,
        parent: SpanId,
        start: Stamp,
    ) -> Option<(FoldRef, SpanId)> {
        let mut inner = self.lock();
        let n = match inner.by_key.get(&(parent, name.clone())) {
            Some(n) => *n,
            None => {
                let (name, parent) = if host.charge(FOLD_BYTES + name.len() as u64) {
                    (name, parent)
                } else {
                    // No room for another fold span: one more catch-all under the root
                    // (its room is kept with the envelope's).
                    (Cow::Borrowed(CATCH_ALL_NAME), host.root_id())
                };
                match inner.by_key.get(&(parent, name.clone())) {
                    Some(n) => *n,
                    None => {
                        let fold = Fold::new(name.clone(), parent, self.fresh_id(host), start);
                        inner.shared.push(Arc::new(fold));
                        let n = inner.shared.len() - 1;
                        inner.by_key.insert((parent, name), n);
                        n
                    }
                }
            }
        };
        let fold = inner.shared.get(n)?.clone();
        drop(inner);
        fold.add_call_shared();
        Some((FoldRef::Shared(n), fold.span_id))
    }

    /// Ends a folded call.
    #[inline(always)]
    pub(crate) fn end_call(
        &self,
        host: &impl FoldHost,
        fold: FoldRef,
        start: Stamp,
        end: Stamp,
        failed: bool,
    ) {
        match fold {
            FoldRef::Lane { tag, n } => {
                with_lane(host.session_number(), None, |lane| {
                    // A lane made since for the same session (the thread dropped the old one
                    // from its few) has another tag: that call is not ended here.
                    let fold = lane.folds.get(n).and_then(OnceLock::get)?;
                    (lane.tag == tag).then(|| fold.end_call_owned(start, end, failed))
                });
            }
            FoldRef::Shared(n) => {
                let fold = self.lock().shared.get(n).cloned();
                if let Some(fold) = fold {
                    fold.end_call_shared(start, end, failed);
                }
            }
        }
    }

    /// Every fold span, as records.
    pub(crate) fn records(
        &self,
        now: Stamp,
        ticks_to_nanos: impl Fn(u64) -> u64,
    ) -> Vec<SpanRecord> {
        let inner = self.lock();
        let lanes = inner.lanes.iter().flat_map(|lane| lane.folds());
        let shared = inner.shared.iter().map(|fold| &**fold);
        lanes
            .chain(shared)
            .filter(|fold| fold.calls() > 0)
            .map(|fold| fold.to_record(now, &ticks_to_nanos))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    struct Host {
        number: u64,
        room: AtomicU64,
    }

    impl FoldHost for Host {
        fn session_number(&self) -> u64 {
            self.number
        }
        fn charge(&self, bytes: u64) -> bool {
            self.room
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    r.checked_sub(bytes)
                })
                .is_ok()
        }
        fn fold_span_id(&self, n: u64) -> SpanId {
            SpanId::from_bytes((n + 100).to_be_bytes())
        }
        fn root_id(&self) -> SpanId {
            SpanId::from_bytes([1; 8])
        }
    }

    fn host(number: u64, room: u64) -> Host {
        Host {
            number,
            room: AtomicU64::new(room),
        }
    }

    fn attribute(record: &SpanRecord, key: &str) -> i64 {
        let kv = record
            .details
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .unwrap();
        match kv.value {
            opentelemetry::Value::I64(n) => n,
            _ => panic!("{key} is not an integer"),
        }
    }

    #[test]
    fn calls_under_one_parent_and_name_share_one_fold() {
        let host = host(1, 10_000);
        let folds = Folds::default();
        let parent = SpanId::from_bytes([2; 8]);
        let mut refs = Vec::new();
        for i in 0..1_000 {
            let name = if i % 2 == 0 { "even" } else { "odd" };
            let (fold, _, start) = folds.fold_call(&host, Cow::Borrowed(name), parent).unwrap();
            folds.end_call(&host, fold, start, Stamp::now(), i % 10 == 0);
            refs.push(fold);
        }
        let records = folds.records(Stamp::now(), |t| t);
        assert_eq!(records.len(), 2);
        for record in &records {
            assert_eq!(attribute(record, FOLDED_CALLS), 500);
            assert_eq!(record.parent_id, parent);
        }
        let even = records.iter().find(|r| r.name == "even").unwrap();
        assert_eq!(attribute(even, "charm_tracing.folded_failures"), 100);
        assert!(
            matches!(&even.details.as_ref().unwrap().status, StatusRecord::Error(m) if m == "100 of 500 folded calls failed")
        );
        let odd = records.iter().find(|r| r.name == "odd").unwrap();
        assert_eq!(odd.details.as_ref().unwrap().status, StatusRecord::Unset);
        assert!(
            attribute(odd, "charm_tracing.folded_duration_max_ns")
                <= attribute(odd, "charm_tracing.folded_duration_total_ns")
        );
    }

    #[test]
    fn past_its_first_calls_a_fold_times_one_call_in_sixteen_and_scales_the_total() {
        let host = host(5, 10_000);
        let folds = Folds::default();
        let parent = SpanId::from_bytes([6; 8]);
        let mut timed = 0;
        for _ in 0..(TIMED_FIRST + 16 * 100) {
            let (fold, _, start) = folds
                .fold_call(&host, Cow::Borrowed("hot"), parent)
                .unwrap();
            // Every call takes exactly 10 ticks.
            let end = if start.is_set() {
                timed += 1;
                Stamp::from_raw(start.raw() + 10)
            } else {
                Stamp::UNSET
            };
            folds.end_call(&host, fold, start, end, false);
        }
        assert_eq!(
            timed,
            TIMED_FIRST + 100,
            "every first call, then one in sixteen"
        );
        let records = folds.records(Stamp::now(), |t| t);
        let calls = (TIMED_FIRST + 1600) as i64;
        assert_eq!(attribute(&records[0], FOLDED_CALLS), calls);
        assert_eq!(
            attribute(&records[0], "charm_tracing.folded_timed_calls"),
            timed as i64
        );
        assert_eq!(
            attribute(&records[0], "charm_tracing.folded_duration_total_ns"),
            10 * calls
        );
        assert_eq!(
            attribute(&records[0], "charm_tracing.folded_duration_max_ns"),
            10
        );
    }

    #[test]
    fn a_session_without_room_counts_every_call_in_one_catch_all() {
        let host = host(2, 0);
        let folds = Folds::default();
        for name in ["a", "b", "c"] {
            let (fold, _, start) = folds
                .fold_call(&host, Cow::Borrowed(name), SpanId::from_bytes([3; 8]))
                .unwrap();
            folds.end_call(&host, fold, start, Stamp::now(), false);
        }
        let records = folds.records(Stamp::now(), |t| t);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].name, CATCH_ALL_NAME);
        assert_eq!(records[0].parent_id, host.root_id());
        assert_eq!(attribute(&records[0], FOLDED_CALLS), 3);
    }

    #[test]
    fn threads_fold_into_their_own_lanes_and_nothing_is_lost() {
        let host = host(3, 1_000_000);
        let folds = Folds::default();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        let (fold, _, start) = folds
                            .fold_call(&host, Cow::Borrowed("f"), SpanId::from_bytes([4; 8]))
                            .unwrap();
                        let end = if start.is_set() {
                            Stamp::now()
                        } else {
                            Stamp::UNSET
                        };
                        folds.end_call(&host, fold, start, end, false);
                    }
                });
            }
        });
        let records = folds.records(Stamp::now(), |t| t);
        let total: i64 = records.iter().map(|r| attribute(r, FOLDED_CALLS)).sum();
        assert_eq!(total, 30_000);
    }

    #[test]
    fn a_call_still_running_at_the_seal_is_counted_and_its_fold_ends_at_the_seal() {
        let host = host(4, 10_000);
        let folds = Folds::default();
        let start = Stamp::now();
        folds
            .fold_shared(
                &host,
                Cow::Borrowed("running"),
                SpanId::from_bytes([5; 8]),
                start,
            )
            .unwrap();
        let now = Stamp::now();
        let records = folds.records(now, |t| t);
        assert_eq!(attribute(&records[0], FOLDED_CALLS), 1);
        assert_eq!(records[0].end, now);
    }
}
