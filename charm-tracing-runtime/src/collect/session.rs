//! The tracing session of one hook: its trace, its spans, and where they go at the end.
//!
//! A process has at most one global session, started by the charm's constructor and ended by
//! [`shutdown`] (or at process exit). A thread running a hook under the test harness gets a
//! private session instead, bound to that thread, so parallel tests never see each other's
//! spans.

use crate::collect::clock::{Anchor, Converter};
use crate::collect::fold::{CATCH_ALL_NAME, FOLD_BYTES, FOLDED_CALLS, FoldHost, FoldRef, Folds};
use crate::collect::record::{
    ErrorInfo, SpanRecord, Stamp, StatusRecord, attribute_bytes, event_bytes, span_bytes,
    status_bytes,
};
use crate::collect::sealed::SealedSpans;
use crate::collect::table::{Budget, Refused, SpanTable, span_id_for};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, TraceId};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Where a session's spans go when it ends: plain data, handed over once. The delivery
/// path and the test harness's capture are two of them.
pub(crate) trait Sink: Send + Sync + std::any::Any {
    /// Takes the sealed trace.
    fn accept(&self, trace: SealedTrace<'_>);
    /// For the harness, to read its capture back.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A session's spans once it has ended: every span closed, in end order (root last), with
/// what is needed to encode them.
pub(crate) struct SealedTrace<'a> {
    pub trace_id: TraceId,
    pub service_name: &'a str,
    pub resource: &'a [KeyValue],
    pub spans: SealedSpans<'a>,
    /// Converts the spans' clock ticks to Unix time.
    pub clock: Converter,
    /// About what the encoded spans take, at most (what the budget counted): room for the
    /// record up front, so that it is never copied as it grows.
    pub size_hint: usize,
}

/// What a new session is made of.
pub(crate) struct SessionStart {
    pub trace_id: TraceId,
    /// The root span, open (its id is the session's root id).
    pub root: SpanRecord,
    pub service_name: String,
    pub resource: Vec<KeyValue>,
    /// A test harness session: bound to its hook's thread, carried to others.
    pub harness: bool,
    pub sink: Box<dyn Sink>,
    /// The most bytes the encoded record may take (`trace_max_size_kib`).
    pub max_record_bytes: u64,
}

/// One hook's trace while it runs.
pub(crate) struct Session {
    pub trace_id: TraceId,
    pub root_id: SpanId,
    pub service_name: String,
    pub resource: Vec<KeyValue>,
    sink: Box<dyn Sink>,
    harness: bool,
    table: SpanTable,
    folds: Folds,
    /// Tells this session's fold lanes from other sessions'.
    number: u64,
    /// The bound of the encoded record (`trace_max_size_kib`), for the end-of-hook line.
    max_record_bytes: u64,
    closed: AtomicBool,
    /// When the session started, to convert span ticks to wall time.
    started: Anchor,
}

/// Where an open span is kept, in one `usize`: a slot of the span table, or (tagged) a fold
/// of this thread's lane or of the shared folds.
const LANE_FOLD: usize = 1 << (usize::BITS - 2);
const SHARED_FOLD: usize = 1 << (usize::BITS - 3);
const FOLD_NUMBER: usize = SHARED_FOLD - 1;

#[inline(always)]
fn fold_of(index: usize) -> Option<FoldRef> {
    if index & LANE_FOLD != 0 {
        Some(FoldRef::Lane {
            tag: ((index >> 16) & 0xFFFF) as u16,
            n: index & 0xFFFF,
        })
    } else if index & SHARED_FOLD != 0 {
        Some(FoldRef::Shared(index & FOLD_NUMBER))
    } else {
        None
    }
}

#[inline(always)]
fn fold_index(fold: FoldRef) -> usize {
    match fold {
        FoldRef::Lane { tag, n } => LANE_FOLD | (usize::from(tag) << 16) | (n & 0xFFFF),
        FoldRef::Shared(n) => SHARED_FOLD | (n & FOLD_NUMBER),
    }
}

/// A span just opened: where it is kept and its id (a fold span's, for a folded call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Opened {
    pub index: usize,
    pub span_id: SpanId,
    /// When the call started, as kept for it (unset for a folded call left untimed).
    pub start: Stamp,
}

thread_local! {
    /// Whether this thread runs a hook under the test harness (a session started here is a
    /// harness session, bound to this thread).
    static HARNESS: Cell<bool> = const { Cell::new(false) };
    /// The harness session of the hook this thread runs.
    static HOOK_SESSION: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
    /// Harness sessions carried onto this thread for a while: by a traced future while it is
    /// polled, by a `tracing` span while it is entered. The last one is current.
    static SCOPES: RefCell<Vec<Arc<Session>>> = const { RefCell::new(Vec::new()) };
    /// The hook session's address while `HOOK_SESSION` holds it (kept in step with it), and
    /// how many sessions `SCOPES` holds: the hot path's way to the harness session, without
    /// touching thread-locals that have destructors.
    static HOOK_PTR: Cell<*const Session> = const { Cell::new(std::ptr::null()) };
    static CARRIED: Cell<usize> = const { Cell::new(0) };
}

/// Keeps `HOOK_PTR` in step with what `HOOK_SESSION` now holds.
fn track_hook_session(own: Option<&Arc<Session>>) {
    let _ = HOOK_PTR.try_with(|ptr| ptr.set(own.map_or(std::ptr::null(), Arc::as_ptr)));
}

static GLOBAL: OnceLock<Arc<Session>> = OnceLock::new();

/// Hooks running under the test harness in this process. While there are none (always, in
/// production), finding the session is one relaxed load and `GLOBAL`.
static HARNESS_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The hot path's one check. Low 16 bits: open sessions in the process; high 16 bits: live
/// `disabled()` guards. Spans are recorded only when sessions are open and no guard lives.
static GATE: AtomicU32 = AtomicU32::new(0);
const DISABLED_UNIT: u32 = 1 << 16;

/// Whether any span may be recorded now: one relaxed load.
#[inline(always)]
pub(crate) fn gate_open() -> bool {
    GATE.load(Ordering::Relaxed).wrapping_sub(1) < 0xFFFF
}

/// Whether no `disabled()` guard lives.
pub(crate) fn not_disabled() -> bool {
    GATE.load(Ordering::Relaxed) < DISABLED_UNIT
}

pub(crate) fn add_disabled_guard() {
    GATE.fetch_add(DISABLED_UNIT, Ordering::SeqCst);
}

pub(crate) fn remove_disabled_guard() {
    GATE.fetch_sub(DISABLED_UNIT, Ordering::SeqCst);
}

/// Runs `f` on this thread's open session, without touching its reference count in
/// production.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Session) -> R) -> Option<R> {
    if HARNESS_RUNS.load(Ordering::Relaxed) == 0 {
        return GLOBAL.get().filter(|s| s.is_open()).map(|s| f(s));
    }
    with_harness_current(f)
}

/// [`with_current`] with hooks under the test harness: the same choice as
/// [`harness_current`], without touching the session's reference count.
#[inline(never)]
fn with_harness_current<R>(f: impl FnOnce(&Session) -> R) -> Option<R> {
    let mut f = Some(f);
    let mut call = |session: &Session| {
        if session.is_open() {
            f.take().map(|f| f(session))
        } else {
            None
        }
    };
    if CARRIED.try_with(Cell::get).unwrap_or(1) == 0 && HARNESS.try_with(Cell::get).unwrap_or(false)
    {
        let own = HOOK_PTR.try_with(Cell::get).unwrap_or(std::ptr::null());
        // SAFETY: `HOOK_PTR` is the address of the session `HOOK_SESSION` holds on this
        // thread (it is updated with every change of it), which keeps it alive; nothing in
        // `f` (opening or ending a span) changes `HOOK_SESSION`.
        return unsafe { own.as_ref() }.and_then(call);
    }
    // `Some(result)` when a carried session decided.
    let carried = SCOPES
        .try_with(|scopes| {
            let scopes = scopes.try_borrow().ok()?;
            scopes.last().map(|session| call(session))
        })
        .ok()
        .flatten();
    if let Some(result) = carried {
        return result;
    }
    if HARNESS.try_with(Cell::get).unwrap_or(false) {
        return HOOK_SESSION
            .try_with(|own| {
                let own = own.try_borrow().ok()?;
                own.as_deref().and_then(&mut call)
            })
            .ok()
            .flatten();
    }
    GLOBAL.get().and_then(|session| call(session))
}

/// The open session this thread records into, if any.
#[inline]
pub(crate) fn current() -> Option<Arc<Session>> {
    if HARNESS_RUNS.load(Ordering::Relaxed) == 0 {
        return GLOBAL.get().filter(|s| s.is_open()).cloned();
    }
    harness_current()
}

/// With hooks under the test harness: the session carried onto this thread (by a traced
/// future or a `tracing` span), else the thread's own hook session, else the global one.
#[cold]
fn harness_current() -> Option<Arc<Session>> {
    let carried = SCOPES
        .try_with(|scopes| scopes.try_borrow().ok().and_then(|s| s.last().cloned()))
        .ok()
        .flatten();
    if let Some(session) = carried {
        return session.is_open().then_some(session);
    }
    if HARNESS.try_with(Cell::get).unwrap_or(false) {
        return HOOK_SESSION
            .try_with(|own| own.try_borrow().ok().and_then(|s| s.clone()))
            .ok()
            .flatten()
            .filter(|s| s.is_open());
    }
    // A thread of no hook (a plain thread a hook spawned, or another test's) records into
    // no harness session: nothing says which run it belongs to, and a guess could put spans
    // into another test's trace.
    GLOBAL.get().filter(|s| s.is_open()).cloned()
}

/// Carries `session` onto this thread until the returned guard drops (harness sessions
/// only: the global one is everywhere already).
pub(crate) fn carry(session: &Arc<Session>) -> Carried {
    if !session.is_harness() {
        return Carried(None);
    }
    let pushed = SCOPES
        .try_with(|scopes| match scopes.try_borrow_mut() {
            Ok(mut scopes) => {
                scopes.push(session.clone());
                let _ = CARRIED.try_with(|n| n.set(scopes.len()));
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false);
    Carried(pushed.then_some(Arc::as_ptr(session)))
}

#[cfg(feature = "tracing")]
/// Carries `session` onto this thread until [`exit_scope`] (for callbacks without a guard:
/// a `tracing` span's enter and exit).
pub(crate) fn enter_scope(session: &Arc<Session>) {
    std::mem::forget(carry(session));
}

#[cfg(feature = "tracing")]
/// Ends what [`enter_scope`] started.
pub(crate) fn exit_scope(session: &Session) {
    if session.is_harness() {
        uncarry(session);
    }
}

/// Ends what [`carry`] started: its own entry goes, whatever was carried since (scopes
/// need not end in order: a `tracing` span may be left while a future polls).
pub(crate) struct Carried(Option<*const Session>);

impl Drop for Carried {
    fn drop(&mut self) {
        if let Some(session) = self.0 {
            uncarry(session);
        }
    }
}

/// Removes the newest carried entry of `session` from this thread.
fn uncarry(session: *const Session) {
    let _ = SCOPES.try_with(|scopes| {
        if let Ok(mut scopes) = scopes.try_borrow_mut()
            && let Some(position) = scopes.iter().rposition(|s| Arc::as_ptr(s) == session)
        {
            scopes.remove(position);
            let _ = CARRIED.try_with(|n| n.set(scopes.len()));
        }
    });
}

/// Sessions open in the process (a probe for tests: `GATE`'s low half).
pub(crate) fn open_sessions() -> u32 {
    GATE.load(Ordering::SeqCst) & 0xFFFF
}

/// Harness sessions carried onto this thread now (a probe for tests).
pub(crate) fn carried_here() -> usize {
    SCOPES
        .try_with(|scopes| scopes.try_borrow().map_or(0, |s| s.len()))
        .unwrap_or(0)
}

/// The session this thread would end: the harness one, else the global one.
fn owned_by_this_thread() -> Option<Arc<Session>> {
    if HARNESS.try_with(Cell::get).unwrap_or(false) {
        HOOK_SESSION
            .try_with(|own| own.borrow().clone())
            .ok()
            .flatten()
    } else {
        GLOBAL.get().cloned()
    }
}

/// Whether a session started now would be a test harness session (this thread runs a hook
/// under `testing`).
pub(crate) fn harness_mode() -> bool {
    HARNESS.try_with(Cell::get).unwrap_or(false)
}

/// Whether this thread's hook (harness) or the process (global) already has a session.
pub(crate) fn session_exists(harness: bool) -> bool {
    if harness {
        HOOK_SESSION
            .try_with(|own| own.borrow().is_some())
            .unwrap_or(true)
    } else {
        GLOBAL.get().is_some()
    }
}

/// Where a new session went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Installed {
    /// Bound to this thread's hook under the harness.
    Harness,
    /// The process's session.
    Global,
    /// Not at all: the process already had one.
    No,
}

/// Makes `session` the one spans record into, and opens the gate.
pub(crate) fn install(session: Arc<Session>) -> Installed {
    let installed = if session.is_harness() {
        let _ = HOOK_SESSION.try_with(|own| {
            let mut own = own.borrow_mut();
            // Never pointing at a session being dropped.
            track_hook_session(None);
            *own = Some(session);
            track_hook_session(own.as_ref());
        });
        Installed::Harness
    } else if GLOBAL.set(session).is_ok() {
        Installed::Global
    } else {
        return Installed::No;
    };
    GATE.fetch_add(1, Ordering::SeqCst);
    installed
}

/// Ends the session: closes open spans, encodes the hook's record once and delivers it.
/// Idempotent: later calls do nothing.
///
/// ```
/// // Outside a session this does nothing.
/// charm_tracing_runtime::shutdown();
/// charm_tracing_runtime::shutdown();
/// ```
pub fn shutdown() {
    if let Some(session) = owned_by_this_thread() {
        crate::collect::span::detach_proxy();
        session.finish();
    }
}

/// Ends the global session; used at process exit, when thread-locals may be gone.
pub(crate) fn shutdown_global() {
    if let Some(session) = GLOBAL.get() {
        session.finish();
    }
}

static SESSION_NUMBERS: AtomicU64 = AtomicU64::new(1);

impl FoldHost for Session {
    fn session_number(&self) -> u64 {
        self.number
    }
    fn charge(&self, bytes: u64) -> bool {
        self.table.charge(bytes)
    }
    fn fold_span_id(&self, n: u64) -> SpanId {
        span_id_for(self.table.id_key(), n | 1 << 63)
    }
    fn root_id(&self) -> SpanId {
        self.root_id
    }
}

impl Session {
    pub(crate) fn new(start: SessionStart) -> Self {
        let used = start.root.encoded_bytes_bound()
            + start.service_name.len() as u64
            + start.resource.iter().map(attribute_bytes).sum::<u64>()
            // The catch-all fold span, should it be needed.
            + FOLD_BYTES
            + CATCH_ALL_NAME.len() as u64;
        let budget = Budget::for_record(start.max_record_bytes);
        let id_key = u64::from_be_bytes(new_span_id().to_bytes());
        Session {
            trace_id: start.trace_id,
            root_id: start.root.span_id,
            service_name: start.service_name,
            resource: start.resource,
            sink: start.sink,
            harness: start.harness,
            table: SpanTable::new(start.root, budget, used, id_key),
            folds: Folds::default(),
            number: SESSION_NUMBERS.fetch_add(1, Ordering::Relaxed),
            max_record_bytes: start.max_record_bytes,
            closed: AtomicBool::new(false),
            started: Anchor::now(),
        }
    }

    #[inline]
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    /// Opens the span of a call that ends on this thread (a synchronous traced call), started
    /// at `start`: recorded while the budget lasts, else folded into this thread's lane.
    /// `None` once the session is sealed.
    #[inline]
    pub fn open_call(
        &self,
        name: Cow<'static, str>,
        parent: SpanId,
        start: Stamp,
    ) -> Option<Opened> {
        if self.table.is_folding() {
            // The budget is spent: straight to this thread's folds, no record built.
            return self.fold_call(name, parent);
        }
        let bytes = span_bytes(&name);
        let mut record = Some(SpanRecord::open_at(name, SpanId::INVALID, parent, start));
        match self.table.open(&mut record, bytes) {
            Ok(placed) => Some(Opened {
                index: placed.index,
                span_id: placed.span_id,
                start,
            }),
            Err(Refused::Full) => self.fold(record?, true),
            Err(Refused::Sealed) => None,
        }
    }

    /// Opens a span that may end on another thread (an async span), started at `start`.
    pub fn open_span(
        &self,
        name: Cow<'static, str>,
        parent: SpanId,
        start: Stamp,
    ) -> Option<Opened> {
        self.open_record(SpanRecord::open_at(name, SpanId::INVALID, parent, start))
    }

    /// Opens a span from a fully built record (the OpenTelemetry and `tracing` bridges);
    /// its span id is given here.
    pub fn open_record(&self, record: SpanRecord) -> Option<Opened> {
        let bytes = record.encoded_bytes_bound();
        let start = record.start;
        let mut record = Some(record);
        match self.table.open(&mut record, bytes) {
            Ok(placed) => Some(Opened {
                index: placed.index,
                span_id: placed.span_id,
                start,
            }),
            Err(Refused::Full) => self.fold(record?, false),
            Err(Refused::Sealed) => None,
        }
    }

    #[inline]
    fn fold_call(&self, name: Cow<'static, str>, parent: SpanId) -> Option<Opened> {
        if !self.table.is_open() {
            return None;
        }
        let (fold, span_id, start) = self.folds.fold_call(self, name, parent)?;
        Some(Opened {
            index: fold_index(fold),
            span_id,
            start,
        })
    }

    /// Whether calls are folded now (the budget for spans is spent): a folded call's clock
    /// reads are the fold's to decide.
    #[inline(always)]
    pub fn is_folding(&self) -> bool {
        self.table.is_folding()
    }

    #[cold]
    #[inline(never)]
    fn fold(&self, record: SpanRecord, on_this_thread: bool) -> Option<Opened> {
        let (fold, span_id, start) = if on_this_thread {
            self.folds.fold_call(self, record.name, record.parent_id)?
        } else {
            let start = record.start;
            let (fold, span_id) =
                self.folds
                    .fold_shared(self, record.name, record.parent_id, start)?;
            (fold, span_id, start)
        };
        Some(Opened {
            index: fold_index(fold),
            span_id,
            start,
        })
    }

    /// Whether this is a test harness session.
    pub fn is_harness(&self) -> bool {
        self.harness
    }

    /// Where the session's spans go when it ends.
    pub(crate) fn sink(&self) -> &dyn Sink {
        self.sink.as_ref()
    }

    /// Ends span `index` (opened at `start`), failed with `error` if given. Ending twice
    /// keeps the first end.
    #[inline]
    pub fn close_span(&self, index: usize, start: Stamp, error: Option<&ErrorInfo>) {
        self.close_span_with(index, start, error, None);
    }

    /// Ends span `index` at `end`, failed with `error` if given (its event stamped at `end`).
    pub fn close_span_at(&self, index: usize, start: Stamp, error: Option<&ErrorInfo>, end: Stamp) {
        self.close_span_with(index, start, error, Some(end));
    }

    #[inline]
    fn close_span_with(
        &self,
        index: usize,
        start: Stamp,
        error: Option<&ErrorInfo>,
        end: Option<Stamp>,
    ) {
        if let Some(fold) = fold_of(index) {
            // Folds count in this clock's ticks: an end given as a wall time (through the
            // OpenTelemetry API) is taken as now.
            let end = if start.is_set() {
                end.filter(|end| end.ticks_or_unix().is_ok())
                    .unwrap_or_else(Stamp::now)
            } else {
                // An untimed folded call: counted, no clock read.
                Stamp::UNSET
            };
            self.folds.end_call(self, fold, start, end, error.is_some());
            return;
        }
        match error {
            None => {
                self.table.end(index, end.unwrap_or_else(Stamp::now));
            }
            Some(error) => {
                // The exception is recorded before the end is read, as Python does: every
                // event lies within its span.
                let at = end.unwrap_or_else(Stamp::now);
                self.with_span(index, |record| record.record_error_at(error, at));
                self.table.end(index, end.unwrap_or_else(Stamp::now));
            }
        }
    }

    /// Runs `f` on open span `index`, if it is a recorded span and still open. What `f`
    /// adds is charged to the trace's budget; additions that do not fit are left out and
    /// counted as dropped.
    pub fn with_span<R>(&self, index: usize, f: impl FnOnce(&mut SpanRecord) -> R) -> Option<R> {
        if fold_of(index).is_some() {
            return None;
        }
        self.table.update(index, |record| {
            // Once only the reserve is left, what a change may replace is kept to put back.
            let saved = self.table.is_tight().then(|| Saved::of(record));
            let before = Footprint::of(record);
            let out = f(record);
            let added = before.added_by(record);
            if added > 0 && !self.table.charge(added) {
                before.undo(record, saved);
            }
            out
        })
    }

    /// Marks the root span failed: the hook failed.
    pub fn fail_root(&self, error: &ErrorInfo) {
        self.with_span(0, |root| root.record_error(error));
    }

    /// Ends the session once: seals its spans and hands them to its sink.
    pub fn finish(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        GATE.fetch_sub(1, Ordering::SeqCst);
        let clock = Converter::new(self.started, Anchor::now());
        let now = Stamp::now();
        let taken = self.table.seal(now);
        let folds = self.folds.records(now, |ticks| clock.nanos(ticks));
        if !folds.is_empty() {
            log_folds(&folds, self.max_record_bytes);
        }
        // End order, the root last; a child opened after its parent ends first on a tie.
        let spans = SealedSpans::new(&self.table, taken, folds, self.root_id, &clock);
        let trace = SealedTrace {
            trace_id: self.trace_id,
            service_name: &self.service_name,
            resource: &self.resource,
            spans,
            clock,
            size_hint: usize::try_from(self.table.bytes_used()).unwrap_or(0),
        };
        // Defence in depth: whatever happens in a sink, the hook goes on.
        let accepted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.sink.accept(trace);
        }));
        if accepted.is_err() {
            log::error!("charm-tracing: delivery failed unexpectedly while reporting on it");
        }
    }
}

/// Says once, at the end of a hook whose calls were folded, that its trace reached its bound.
#[cold]
fn log_folds(folds: &[SpanRecord], max_record_bytes: u64) {
    let calls: u64 = folds
        .iter()
        .filter_map(|fold| fold.details.as_deref())
        .filter_map(|d| {
            d.attributes
                .iter()
                .find(|kv| kv.key.as_str() == FOLDED_CALLS)
        })
        .filter_map(|kv| match kv.value {
            opentelemetry::Value::I64(n) => u64::try_from(n).ok(),
            _ => None,
        })
        .sum();
    log::info!(
        "charm-tracing: this hook's trace reached its size bound ({} KiB); {calls} call(s) past \
         it are counted in {} fold span(s) (charm_tracing.folded_calls)",
        max_record_bytes / 1024,
        folds.len()
    );
}

/// What a span's changeable parts take, to charge what a change adds (and undo it if that
/// does not fit).
struct Footprint {
    name: u64,
    status: u64,
    attributes: usize,
    attribute_bytes: u64,
    events: usize,
    links: usize,
}

impl Footprint {
    fn of(record: &SpanRecord) -> Self {
        let details = record.details.as_deref();
        Footprint {
            name: record.name.len() as u64,
            status: details.map_or(0, |d| status_bytes(&d.status)),
            attributes: details.map_or(0, |d| d.attributes.len()),
            attribute_bytes: details.map_or(0, |d| d.attributes.iter().map(attribute_bytes).sum()),
            events: details.map_or(0, |d| d.events.len()),
            links: details.map_or(0, |d| d.links.len()),
        }
    }

    fn added_by(&self, record: &SpanRecord) -> u64 {
        let mut added = (record.name.len() as u64).saturating_sub(self.name);
        if let Some(details) = record.details.as_deref() {
            let attributes: u64 = details.attributes.iter().map(attribute_bytes).sum();
            added += attributes.saturating_sub(self.attribute_bytes);
            added += status_bytes(&details.status).saturating_sub(self.status);
            added += details
                .events
                .get(self.events..)
                .map_or(0, |new| new.iter().map(event_bytes).sum());
            added += 64 * details.links.len().saturating_sub(self.links) as u64;
            if self.status == 0 && self.attributes == 0 && self.events == 0 && self.links == 0 {
                added += 12;
            }
        }
        added
    }

    /// Takes back what the change added: new events, links and attributes are dropped (and
    /// counted); the name, attributes and status are put back as `saved` had them, except
    /// that a span newly failed stays failed (without a description, which costs nothing).
    fn undo(&self, record: &mut SpanRecord, saved: Option<Saved>) {
        let failed_now = record
            .details
            .as_deref()
            .is_some_and(|d| matches!(d.status, StatusRecord::Error(_)));
        if let Some(saved) = saved {
            record.name = saved.name;
            let details = record.details_mut();
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            let grown = details
                .attributes
                .len()
                .saturating_sub(saved.attributes.len());
            details.dropped_attributes = details.dropped_attributes.saturating_add(count(grown));
            details.attributes = saved.attributes;
            details.status = match saved.status {
                StatusRecord::Unset | StatusRecord::Ok if failed_now => {
                    StatusRecord::Error(String::new())
                }
                status => status,
            };
        }
        let Some(details) = record.details.as_deref_mut() else {
            return;
        };
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        if details.events.len() > self.events {
            let dropped = details.events.len() - self.events;
            details.events.truncate(self.events);
            details.dropped_events = details.dropped_events.saturating_add(count(dropped));
        }
        if details.attributes.len() > self.attributes {
            let dropped = details.attributes.len() - self.attributes;
            details.attributes.truncate(self.attributes);
            details.dropped_attributes = details.dropped_attributes.saturating_add(count(dropped));
        }
        details.links.truncate(self.links);
        if let StatusRecord::Error(message) = &mut details.status
            && message.len() as u64 + 8 > self.status
        {
            // A description that did not fit (there was no saved one to put back).
            message.clear();
        }
    }
}

/// The parts of a span a change may replace rather than add to.
struct Saved {
    name: Cow<'static, str>,
    attributes: Vec<KeyValue>,
    status: StatusRecord,
}

impl Saved {
    fn of(record: &SpanRecord) -> Self {
        let details = record.details.as_deref();
        Saved {
            name: record.name.clone(),
            attributes: details.map_or_else(Vec::new, |d| d.attributes.clone()),
            status: details.map_or(StatusRecord::Unset, |d| d.status.clone()),
        }
    }
}

/// A fresh, valid span id.
pub(crate) fn new_span_id() -> SpanId {
    crate::collect::ids::new_span_id()
}

/// Runs `f` with this thread in harness mode, then unbinds and returns the thread's session.
pub(crate) fn with_harness<R>(f: impl FnOnce() -> R) -> (R, Option<Arc<Session>>) {
    let mut slot = HarnessSlot::default();
    let result = slot.enter(f);
    (result, slot.take_session())
}

/// A hook run under the test harness, possibly in several steps (the polls of an async
/// hook, maybe on several threads): each step runs in harness mode with the run's session
/// bound to the thread, as a synchronous run is throughout.
#[derive(Default)]
pub(crate) struct HarnessSlot {
    session: Option<Arc<Session>>,
    counted: bool,
}

impl HarnessSlot {
    /// Runs one step of the hook.
    pub(crate) fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a> {
            slot: &'a mut HarnessSlot,
            harness: bool,
            own: Option<Arc<Session>>,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let _ = HARNESS.try_with(|h| h.set(self.harness));
                let _ = HOOK_SESSION.try_with(|own| {
                    if let Ok(mut own) = own.try_borrow_mut() {
                        track_hook_session(None);
                        self.slot.session = std::mem::replace(&mut *own, self.own.take());
                        track_hook_session(own.as_ref());
                    }
                });
            }
        }
        if !self.counted {
            self.counted = true;
            HARNESS_RUNS.fetch_add(1, Ordering::AcqRel);
        }
        let harness = HARNESS.try_with(|h| h.replace(true)).unwrap_or(false);
        let own = HOOK_SESSION
            .try_with(|own| {
                track_hook_session(None);
                let previous = own.replace(self.session.take());
                track_hook_session(own.borrow().as_ref());
                previous
            })
            .ok()
            .flatten();
        let _restore = Restore {
            slot: self,
            harness,
            own,
        };
        f()
    }

    /// The run's session, once it has started one.
    pub(crate) fn take_session(&mut self) -> Option<Arc<Session>> {
        self.session.take()
    }
}

impl Drop for HarnessSlot {
    fn drop(&mut self) {
        if self.counted {
            HARNESS_RUNS.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Unit tests that open the gate (a session) or close it (a `disabled()` guard) take turns:
/// the gate is the process's.
#[cfg(test)]
pub(crate) static GATE_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The collector alone: a session, the span stack and the gate, with a sink that keeps the
/// sealed spans (no encoding, no network).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::span;
    use std::sync::{Mutex, PoisonError};

    /// Keeps (name, span id, parent id) of every sealed span, in the order sealed.
    #[derive(Default)]
    struct Kept(Arc<Mutex<Vec<(String, SpanId, SpanId)>>>);

    impl Sink for Kept {
        fn accept(&self, trace: SealedTrace<'_>) {
            let mut kept = self.0.lock().unwrap();
            for span in trace.spans.iter() {
                kept.push((span.name.to_string(), span.span_id, span.parent_id));
            }
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// Runs `hook` in a harness session of its own; the sealed spans.
    fn collect(hook: impl FnOnce()) -> Vec<(String, SpanId, SpanId)> {
        let _serial = GATE_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = Arc::new(Mutex::new(Vec::new()));
        let sink = Kept(kept.clone());
        let mut slot = HarnessSlot::default();
        slot.enter(|| {
            let root = SpanRecord::open(Cow::Borrowed("root"), new_span_id(), SpanId::INVALID);
            let session = Session::new(SessionStart {
                trace_id: crate::collect::ids::new_trace_id(),
                root,
                service_name: "test".into(),
                resource: Vec::new(),
                harness: true,
                sink: Box::new(sink),
                max_record_bytes: 1 << 22,
            });
            assert_eq!(install(Arc::new(session)), Installed::Harness);
            assert!(open_sessions() > 0, "a session opens the gate");
            hook();
            shutdown();
        });
        drop(slot);
        kept.lock().unwrap().clone()
    }

    fn parent_of<'a>(spans: &'a [(String, SpanId, SpanId)], name: &str) -> Option<&'a str> {
        let (_, _, parent) = spans.iter().find(|(n, _, _)| n == name)?;
        spans
            .iter()
            .find(|(_, id, _)| id == parent)
            .map(|(n, _, _)| n.as_str())
    }

    #[test]
    fn spans_nest_by_the_stack_and_are_sealed_in_end_order_root_last() {
        let spans = collect(|| {
            let outer = span::enter("outer");
            let inner = span::enter("inner");
            inner.finish(None);
            let sibling = span::enter("sibling");
            sibling.finish(None);
            outer.finish(None);
            let left_open = span::enter("left open");
            std::mem::forget(left_open);
        });
        let names: Vec<&str> = spans.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["inner", "sibling", "outer", "left open", "root"]);
        assert_eq!(parent_of(&spans, "inner"), Some("outer"));
        assert_eq!(parent_of(&spans, "sibling"), Some("outer"));
        assert_eq!(parent_of(&spans, "outer"), Some("root"));
        assert_eq!(parent_of(&spans, "left open"), Some("root"));
        assert_eq!(parent_of(&spans, "root"), None);
    }

    #[test]
    fn nothing_is_recorded_after_the_session_ends_and_the_stack_is_left_empty() {
        let spans = collect(|| {
            span::enter("kept").finish(None);
        });
        assert_eq!(spans.len(), 2);
        // Outside any session the guards record nothing.
        let guard = span::enter("outside");
        assert!(!guard.is_recording());
        guard.finish(None);
        assert_eq!(span::depth(), 0);
    }

    #[test]
    fn a_session_carried_to_another_thread_records_there() {
        let spans = collect(|| {
            let session = current().expect("the harness session");
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    assert!(current().is_none(), "a plain thread is not carried");
                    let _carried = carry(&session);
                    span::enter("on another thread").finish(None);
                });
            });
        });
        assert_eq!(parent_of(&spans, "on another thread"), Some("root"));
    }
}
