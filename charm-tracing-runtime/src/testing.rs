//! Running a hook in-process in a test, and asserting on its trace without a backend.
//!
//! Each [`run_hook`] gets a private session bound to the calling thread, so tests running in
//! parallel never see each other's spans, and nothing touches the network or the
//! environment.

use crate::collect::session::{self, HarnessSlot, Session};
use crate::juju::context::JujuContext;
use crate::lifecycle::hook::{self, AsyncCharm, Charm, HandlerError, HookResult};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// How the hook ended.
#[derive(Debug)]
pub enum HookOutcome {
    /// The handler returned `Ok`.
    Succeeded,
    /// The handler returned `Err`.
    Failed(HandlerError),
    /// The constructor or handler panicked, with this message.
    Panicked(String),
}

/// A hook that ran under [`run_hook`]: its outcome and its trace.
#[derive(Debug)]
pub struct HookRun {
    /// How the hook ended.
    pub outcome: HookOutcome,
    /// The trace the hook would have delivered; `None` if no session started (tracing
    /// disabled, or the charm type has no `#[trace_charm]`).
    pub trace: Option<Trace>,
    /// The record as it would have been delivered: the encoded OTLP/protobuf request.
    pub record: Option<Vec<u8>>,
}

impl HookRun {
    /// The trace; panics (it is a test) when there is none.
    ///
    /// ```should_panic
    /// # use charm_tracing_runtime::testing::{HookRun, HookOutcome};
    /// let run = HookRun { outcome: HookOutcome::Succeeded, trace: None, record: None };
    /// run.trace();
    /// ```
    pub fn trace(&self) -> &Trace {
        self.trace
            .as_ref()
            .expect("no trace was captured: is the charm's impl under #[trace_charm]?")
    }

    /// The record decoded with the official OTLP types (every field, as a backend sees it);
    /// panics (it is a test) when there is none.
    ///
    /// ```should_panic
    /// # use charm_tracing_runtime::testing::{HookRun, HookOutcome};
    /// let run = HookRun { outcome: HookOutcome::Succeeded, trace: None, record: None };
    /// run.request();
    /// ```
    pub fn request(&self) -> ExportTraceServiceRequest {
        self.record
            .as_deref()
            .and_then(|bytes| ExportTraceServiceRequest::decode(bytes).ok())
            .expect("no record was captured: is the charm's impl under #[trace_charm]?")
    }
}

/// Runs one hook the way `charm_tracing::main` would, with `ctx` instead of the process
/// environment, and captures its trace instead of delivering it.
///
/// ```
/// use charm_tracing_runtime::testing::{run_hook, HookOutcome};
/// use charm_tracing_runtime::{Charm, Event, HandlerError, JujuContext};
///
/// struct Plain;
/// impl Charm for Plain {
///     fn handle(&mut self, _: &Event) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let run = run_hook(JujuContext::new("plain/0", "hooks/install"), |_| Plain);
/// assert!(matches!(run.outcome, HookOutcome::Succeeded));
/// assert!(run.trace.is_none()); // `Plain` is not under #[trace_charm]
/// ```
pub fn run_hook<C: Charm>(ctx: JujuContext, ctor: impl FnOnce(JujuContext) -> C) -> HookRun {
    let (result, session) = session::with_harness(|| hook::run_hook(ctx, ctor));
    hook_run(result, session)
}

/// Runs one hook of an [`AsyncCharm`] the way `charm_tracing::main_async` would, with `ctx`
/// instead of the process environment, and captures its trace. Await it on any runtime:
/// spans of the tasks and threads the hook starts are captured too (see the README on
/// threads and parallel tests).
///
/// ```
/// use charm_tracing_runtime::testing::{run_hook_async, HookOutcome};
/// use charm_tracing_runtime::{AsyncCharm, Event, HandlerError, JujuContext};
///
/// struct Plain;
/// impl AsyncCharm for Plain {
///     async fn handle(&mut self, _: &Event) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// let hook = run_hook_async(JujuContext::new("plain/0", "hooks/install"), |_| Plain);
/// let run = block_on(hook);
/// assert!(matches!(run.outcome, HookOutcome::Succeeded));
/// assert!(run.trace.is_none()); // `Plain` is not under #[trace_charm]
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
pub async fn run_hook_async<C: AsyncCharm>(
    ctx: JujuContext,
    ctor: impl FnOnce(JujuContext) -> C,
) -> HookRun {
    let (result, session) = InHarness {
        slot: HarnessSlot::default(),
        future: hook::run_hook_async(ctx, ctor),
    }
    .await;
    hook_run(result, session)
}

pin_project_lite::pin_project! {
    /// A hook future polled in harness mode, with its session bound to whichever thread
    /// polls it. Dropped before it completes (a test's timeout), it still ends the session.
    struct InHarness<F> {
        slot: HarnessSlot,
        #[pin]
        future: F,
    }

    impl<F> PinnedDrop for InHarness<F> {
        fn drop(this: Pin<&mut Self>) {
            this.project().slot.enter(session::shutdown);
        }
    }
}

impl<F: Future> Future for InHarness<F> {
    type Output = (F::Output, Option<Arc<Session>>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        match this.slot.enter(|| future.poll(cx)) {
            Poll::Ready(result) => Poll::Ready((result, this.slot.take_session())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What a hook run under the harness gives the test.
fn hook_run(result: HookResult, session: Option<Arc<Session>>) -> HookRun {
    let outcome = match result {
        Ok(Ok(())) => HookOutcome::Succeeded,
        Ok(Err(error)) => HookOutcome::Failed(error),
        Err(panic) => {
            HookOutcome::Panicked(crate::collect::panics::payload_message(panic.as_ref()))
        }
    };
    let record = session.and_then(|s| {
        s.sink()
            .as_any()
            .downcast_ref::<crate::export::capture::Capture>()
            .and_then(crate::export::capture::Capture::take)
    });
    let trace = record
        .as_deref()
        .and_then(|bytes| ExportTraceServiceRequest::decode(bytes).ok())
        .map(|request| Trace::from_request(&request));
    HookRun {
        outcome,
        trace,
        record,
    }
}

/// How [`Trace::render`] draws the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeStyle {
    /// Names only, failed spans followed by `  [ERROR description]` ([`Trace::tree`]).
    Names,
    /// Names, durations, statuses and span events, in columns.
    Detailed,
}

/// A span's duration for people: µs below a millisecond, else ms with a decimal.
fn duration(span: &CapturedSpan) -> String {
    let nanos = span.end_unix_nano.saturating_sub(span.start_unix_nano);
    if nanos < 1_000_000 {
        format!("{} µs", nanos / 1_000)
    } else {
        format!("{:.1} ms", nanos as f64 / 1e6)
    }
}

/// The status of a captured span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanStatus {
    /// No status set.
    Unset,
    /// Explicitly OK.
    Ok,
    /// Failed, with this description.
    Error(String),
}

/// A span event of a captured span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedEvent {
    /// The event name.
    pub name: String,
    /// When, ns since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its attributes, values rendered as text.
    pub attributes: Vec<(String, String)>,
}

/// One span of a captured trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedSpan {
    /// The span name.
    pub name: String,
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id, 16 hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for the root.
    pub parent_span_id: Option<String>,
    /// `INTERNAL`, `CLIENT`, …
    pub kind: String,
    /// The status.
    pub status: SpanStatus,
    /// Attributes, values rendered as text.
    pub attributes: Vec<(String, String)>,
    /// Span events.
    pub events: Vec<CapturedEvent>,
    /// Start, ns since the Unix epoch.
    pub start_unix_nano: u64,
    /// End, ns since the Unix epoch.
    pub end_unix_nano: u64,
}

impl CapturedSpan {
    /// The value of attribute `key`.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::{CapturedSpan, SpanStatus};
    /// let span = CapturedSpan { name: "s".into(), trace_id: "ab".into(), span_id: "01".into(), parent_span_id: None,
    ///     kind: "INTERNAL".into(), status: SpanStatus::Unset,
    ///     attributes: vec![("k".into(), "v".into())], events: vec![],
    ///     start_unix_nano: 0, end_unix_nano: 0 };
    /// assert_eq!(span.attribute("k"), Some("v"));
    /// ```
    pub fn attribute(&self, key: &str) -> Option<&str> {
        lookup(&self.attributes, key)
    }
}

/// A decoded trace: resource, scope and spans (in the order they were exported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// Resource attributes, values rendered as text.
    pub resource: Vec<(String, String)>,
    /// The instrumentation scope name.
    pub scope: String,
    /// The spans, in export (end) order.
    pub spans: Vec<CapturedSpan>,
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn render_value(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), render_value(kv.value.as_ref())))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl Trace {
    /// Reads the first resource's spans of an OTLP request (one hook's record).
    ///
    /// ```
    /// use charm_tracing_runtime::testing::Trace;
    /// use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    ///
    /// let trace = Trace::from_request(&ExportTraceServiceRequest::default());
    /// assert!(trace.spans.is_empty());
    /// ```
    pub fn from_request(request: &ExportTraceServiceRequest) -> Self {
        let mut trace = Trace {
            trace_id: String::new(),
            resource: Vec::new(),
            scope: String::new(),
            spans: Vec::new(),
        };
        for resource_spans in &request.resource_spans {
            if let Some(resource) = &resource_spans.resource {
                trace.resource = pairs(&resource.attributes);
            }
            for scope_spans in &resource_spans.scope_spans {
                if let Some(scope) = &scope_spans.scope {
                    trace.scope = scope.name.clone();
                }
                for span in &scope_spans.spans {
                    trace.trace_id = hex(&span.trace_id);
                    let status = match &span.status {
                        Some(s) if s.code == StatusCode::Error as i32 => {
                            SpanStatus::Error(s.message.clone())
                        }
                        Some(s) if s.code == StatusCode::Ok as i32 => SpanStatus::Ok,
                        _ => SpanStatus::Unset,
                    };
                    trace.spans.push(CapturedSpan {
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: (!span.parent_span_id.is_empty())
                            .then(|| hex(&span.parent_span_id)),
                        kind: SpanKind::try_from(span.kind).map_or_else(
                            |_| "UNKNOWN".to_owned(),
                            |k| k.as_str_name().trim_start_matches("SPAN_KIND_").to_owned(),
                        ),
                        status,
                        attributes: pairs(&span.attributes),
                        events: span
                            .events
                            .iter()
                            .map(|e| CapturedEvent {
                                name: e.name.clone(),
                                time_unix_nano: e.time_unix_nano,
                                attributes: pairs(&e.attributes),
                            })
                            .collect(),
                        start_unix_nano: span.start_time_unix_nano,
                        end_unix_nano: span.end_time_unix_nano,
                    });
                }
            }
        }
        trace
    }

    /// The value of resource attribute `key`.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// let trace = Trace { trace_id: String::new(), resource: vec![("k".into(), "v".into())],
    ///     scope: String::new(), spans: vec![] };
    /// assert_eq!(trace.resource_attribute("k"), Some("v"));
    /// ```
    pub fn resource_attribute(&self, key: &str) -> Option<&str> {
        lookup(&self.resource, key)
    }

    /// The root span (the one without a parent).
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// # let trace = Trace { trace_id: String::new(), resource: vec![], scope: String::new(), spans: vec![] };
    /// assert!(trace.root().is_none());
    /// ```
    pub fn root(&self) -> Option<&CapturedSpan> {
        self.spans.iter().find(|s| s.parent_span_id.is_none())
    }

    /// The first span named `name`.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// # let trace = Trace { trace_id: String::new(), resource: vec![], scope: String::new(), spans: vec![] };
    /// assert!(trace.span("event: install").is_none());
    /// ```
    pub fn span(&self, name: &str) -> Option<&CapturedSpan> {
        self.spans.iter().find(|s| s.name == name)
    }

    /// The parent of `span`.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// # let trace = Trace { trace_id: String::new(), resource: vec![], scope: String::new(), spans: vec![] };
    /// if let Some(root) = trace.root() { assert!(trace.parent(root).is_none()); }
    /// ```
    pub fn parent(&self, span: &CapturedSpan) -> Option<&CapturedSpan> {
        let parent = span.parent_span_id.as_deref()?;
        self.spans.iter().find(|s| s.span_id == parent)
    }

    /// The children of `span`, by start time.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::{CapturedSpan, SpanStatus, Trace};
    /// let span = |name: &str, id: &str, parent: Option<&str>| CapturedSpan {
    ///     name: name.into(), trace_id: "ab".into(), span_id: id.into(),
    ///     parent_span_id: parent.map(Into::into), kind: "INTERNAL".into(),
    ///     status: SpanStatus::Unset, attributes: vec![], events: vec![],
    ///     start_unix_nano: 0, end_unix_nano: 0 };
    /// let trace = Trace { trace_id: "ab".into(), resource: vec![], scope: String::new(),
    ///     spans: vec![span("child", "02", Some("01")), span("root", "01", None)] };
    /// let root = trace.root().unwrap();
    /// assert_eq!(trace.children(root)[0].name, "child");
    /// ```
    pub fn children(&self, span: &CapturedSpan) -> Vec<&CapturedSpan> {
        let mut children: Vec<_> = self
            .spans
            .iter()
            .filter(|s| s.parent_span_id.as_deref() == Some(span.span_id.as_str()))
            .collect();
        children.sort_by_key(|s| s.start_unix_nano);
        children
    }

    /// The span tree as indented names (two spaces a level), failed spans followed by
    /// `  [ERROR description]`: handy in `assert_eq!`.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// # let trace = Trace { trace_id: String::new(), resource: vec![], scope: String::new(), spans: vec![] };
    /// assert_eq!(trace.tree(), "");
    /// ```
    pub fn tree(&self) -> String {
        self.render(TreeStyle::Names)
    }

    /// The spans in tree order (depth first, children by start time), each with its depth.
    /// A span whose parent is not in the trace counts as a root.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// # let trace = Trace { trace_id: String::new(), resource: vec![], scope: String::new(), spans: vec![] };
    /// assert!(trace.walk().is_empty());
    /// ```
    pub fn walk(&self) -> Vec<(usize, &CapturedSpan)> {
        use std::collections::HashMap;
        // By index, so that a trace read from anywhere (duplicate ids, a parent cycle) still
        // gives every span exactly once.
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (index, span) in self.spans.iter().enumerate() {
            first.entry(span.span_id.as_str()).or_insert(index);
        }
        let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut roots = Vec::new();
        for (index, span) in self.spans.iter().enumerate() {
            match span.parent_span_id.as_deref().and_then(|p| first.get(p)) {
                Some(&parent) if parent != index => children.entry(parent).or_default().push(index),
                _ => roots.push(index),
            }
        }
        let start = |index: &usize| self.spans[*index].start_unix_nano;
        roots.sort_by_key(start);
        children
            .values_mut()
            .for_each(|kids| kids.sort_by_key(start));
        let mut visited = vec![false; self.spans.len()];
        let mut order = Vec::with_capacity(self.spans.len());
        let mut visit = |from: usize| {
            let mut stack = vec![(0, from)];
            while let Some((depth, index)) = stack.pop() {
                if std::mem::replace(&mut visited[index], true) {
                    continue;
                }
                order.push((depth, &self.spans[index]));
                if let Some(kids) = children.get(&index) {
                    stack.extend(kids.iter().rev().map(|kid| (depth + 1, *kid)));
                }
            }
        };
        for root in roots {
            visit(root);
        }
        // Spans in a parent cycle reach no root: each cycle is shown from its earliest span.
        for index in 0..self.spans.len() {
            visit(index);
        }
        order
    }

    /// The span tree as text, one span a line, two spaces of indent a level: the rendering
    /// the `charm-tracing` CLI, the demo and [`Trace::tree`] share.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::{Trace, TreeStyle};
    /// # let trace = Trace { trace_id: String::new(), resource: vec![], scope: String::new(), spans: vec![] };
    /// assert_eq!(trace.render(TreeStyle::Detailed), "");
    /// ```
    pub fn render(&self, style: TreeStyle) -> String {
        let mut out = String::new();
        for (depth, span) in self.walk() {
            let label = format!("{}{}", "  ".repeat(depth), span.name);
            match style {
                TreeStyle::Names => {
                    out.push_str(&label);
                    if let SpanStatus::Error(description) = &span.status {
                        let _ = write!(out, "  [ERROR {description}]");
                    }
                }
                TreeStyle::Detailed => {
                    let _ = write!(out, "{label:<58} {:>10}", duration(span));
                    if let SpanStatus::Error(description) = &span.status {
                        let _ = write!(out, "  ERROR {description:?}");
                    }
                    let events: Vec<&str> = span
                        .events
                        .iter()
                        .filter(|e| e.name != "exception")
                        .map(|e| e.name.as_str())
                        .collect();
                    if !events.is_empty() {
                        let _ = write!(out, "  events: {}", events.join(", "));
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    /// One line about the trace: id, service, unit, span count.
    ///
    /// ```
    /// # use charm_tracing_runtime::testing::Trace;
    /// # let trace = Trace { trace_id: "ab".into(), resource: vec![], scope: String::new(), spans: vec![] };
    /// assert!(trace.summary().starts_with("trace ab"));
    /// ```
    pub fn summary(&self) -> String {
        format!(
            "trace {}  service.name={}  juju_unit={}  {} span(s)",
            self.trace_id,
            self.resource_attribute("service.name").unwrap_or("?"),
            self.resource_attribute("juju_unit").unwrap_or("?"),
            self.spans.len()
        )
    }

    /// Every trace of an OTLP request, one per trace id (a receiver may get several in one
    /// request), in the order they first appear.
    ///
    /// ```
    /// use charm_tracing_runtime::testing::Trace;
    /// use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    ///
    /// assert!(Trace::all_from_request(&ExportTraceServiceRequest::default()).is_empty());
    /// ```
    pub fn all_from_request(request: &ExportTraceServiceRequest) -> Vec<Trace> {
        let mut traces: Vec<Trace> = Vec::new();
        for resource_spans in &request.resource_spans {
            let single = ExportTraceServiceRequest {
                resource_spans: vec![resource_spans.clone()],
            };
            for span in Trace::from_request(&single).spans_by_trace() {
                match traces
                    .iter_mut()
                    .find(|t| t.trace_id == span.trace_id && t.resource == span.resource)
                {
                    Some(trace) => trace.spans.extend(span.spans),
                    None => traces.push(span),
                }
            }
        }
        traces
    }

    /// This trace split by the trace ids its spans carry.
    fn spans_by_trace(self) -> Vec<Trace> {
        let mut split: Vec<Trace> = Vec::new();
        for span in self.spans {
            match split.iter_mut().find(|t| t.trace_id == span.trace_id) {
                Some(trace) => trace.spans.push(span),
                None => split.push(Trace {
                    trace_id: span.trace_id.clone(),
                    resource: self.resource.clone(),
                    scope: self.scope.clone(),
                    spans: vec![span],
                }),
            }
        }
        split
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: u64) -> CapturedSpan {
        CapturedSpan {
            name: format!("s{id}"),
            trace_id: "ab".into(),
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            kind: "INTERNAL".into(),
            status: SpanStatus::Unset,
            attributes: vec![],
            events: vec![],
            start_unix_nano: start,
            end_unix_nano: start,
        }
    }

    #[test]
    fn walking_hostile_traces_shows_every_span_once() {
        // A parent cycle (2 <-> 3), a duplicate id (4 twice), a span that is its own parent.
        let spans = vec![
            span("1", None, 0),
            span("2", Some("3"), 1),
            span("3", Some("2"), 2),
            span("4", Some("1"), 3),
            span("4", Some("1"), 4),
            span("5", Some("4"), 5),
            span("6", Some("6"), 6),
        ];
        let trace = Trace {
            trace_id: "ab".into(),
            resource: vec![],
            scope: String::new(),
            spans,
        };
        let walked = trace.walk();
        assert_eq!(walked.len(), trace.spans.len());
        assert_eq!(trace.tree(), "s1\n  s4\n    s5\n  s4\ns6\ns2\n  s3\n");
    }
}
