//! The `tracing` ecosystem in the hook's trace: a `tracing_subscriber` layer that turns
//! `tracing` spans into spans of the hook's trace and `tracing` events into span events.

use crate::collect::record::{EventRecord, SpanRecord, Stamp, StatusRecord};
use crate::collect::session::{self, Session};
use crate::collect::span::{self, Frame};
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::{KeyValue, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The layer that puts `tracing` spans and events into the hook's trace; see
/// [`tracing_layer`].
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let subscriber = tracing_subscriber::registry().with(charm_tracing_runtime::tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("outside any hook").in_scope(|| tracing::info!("not recorded"));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CharmTracingLayer {
    _private: (),
}

/// A `tracing_subscriber` layer that records every `tracing` span entered during a hook as
/// a span of the hook's trace (named after the `tracing` span, its fields as attributes,
/// parented by its `tracing` parent inside the hook, else by the current charm span), and
/// every `tracing` event as a span event (named after its message; level, target and fields
/// as attributes) on the innermost span. Install it in `main`, before the charm is
/// constructed, composed with any other layers:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// tracing_subscriber::registry()
///     .with(charm_tracing_runtime::tracing_layer())
///     .init();
/// ```
///
/// Outside a session (before the charm is constructed, tracing disabled) it records
/// nothing and costs one atomic load per callback.
pub fn tracing_layer() -> CharmTracingLayer {
    CharmTracingLayer::default()
}

/// `tracing` spans that became charm spans and are not closed yet, in the whole process.
/// While there are none, entering, leaving and closing a span looks nothing up.
static BRIDGED_LIVE: AtomicUsize = AtomicUsize::new(0);

fn none_bridged() -> bool {
    BRIDGED_LIVE.load(Ordering::Relaxed) == 0
}

/// What the layer keeps in a `tracing` span's extensions: the charm span it became.
struct Bridged {
    session: Arc<Session>,
    frame: Frame,
}

impl<S> Layer<S> for CharmTracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !session::gate_open() {
            return;
        }
        let Some(session) = session::current() else {
            return;
        };
        let explicit_parent = attrs
            .parent()
            .and_then(|parent| bridged(&ctx, parent, &session));
        let (stack_parent, entered_under) = span::parent_for_new_span(&session);
        // A contextual parent is the innermost span on this thread's stack, which holds the
        // entered `tracing` spans and the charm's calls alike.
        let parent = explicit_parent.unwrap_or(stack_parent);
        let mut fields = Fields::default();
        attrs.record(&mut Visitor(&mut fields));
        let name = fields
            .name
            .take()
            .map_or(Cow::Borrowed(attrs.metadata().name()), Cow::Owned);
        let mut record = SpanRecord::open(name, SpanId::INVALID, parent);
        fields.apply_to(&mut record);
        if let Some(span) = ctx.span(id) {
            bridge_into(&span, session, record, entered_under);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if none_bridged() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(bridged) = extensions.get::<Bridged>() else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut Visitor(&mut fields));
        bridged.session.with_span(bridged.frame.index, |record| {
            if let Some(name) = fields.name.take() {
                record.name = Cow::Owned(name);
            }
            fields.apply_to(record);
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !session::gate_open() {
            return;
        }
        let Some(session) = session::current() else {
            return;
        };
        let innermost = || span::top().map_or(0, |frame| frame.index);
        let (index, in_tracing_span) = match event.parent() {
            Some(parent) => match bridged_index(&ctx, parent, &session) {
                Some(index) => (index, true),
                None => (innermost(), false),
            },
            None => {
                let index = innermost();
                (index, bridged_indices_contain(&ctx, index))
            }
        };
        let metadata = event.metadata();
        let mut fields = EventFields::default();
        event.record(&mut Visitor(&mut fields));
        let mut attributes = Vec::with_capacity(fields.attributes.len() + 2);
        attributes.push(KeyValue::new("level", metadata.level().as_str()));
        attributes.push(KeyValue::new("target", metadata.target().to_owned()));
        attributes.append(&mut fields.attributes);
        let message = fields.message.unwrap_or_default();
        // As tracing-opentelemetry: an ERROR event fails the `tracing` span it is in; a charm
        // span's status stays the charm's (its `Err` or panic).
        let is_error = *metadata.level() == Level::ERROR && in_tracing_span;
        session.with_span(index, |record| {
            let details = record.details_mut();
            if is_error && details.status == StatusRecord::Unset {
                details.status = StatusRecord::Error(message.clone());
            }
            details.events.push(EventRecord {
                name: Cow::Owned(message),
                time: Stamp::now(),
                attributes,
            });
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if none_bridged() && !session::gate_open() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<Bridged>().is_none() {
            // Created before the session (a client built in `main`, say) and entered during
            // it: it becomes a charm span from now on, without the fields it was made with.
            bridge_late(&span);
        }
        let extensions = span.extensions();
        if let Some(bridged) = extensions.get::<Bridged>() {
            session::enter_scope(&bridged.session);
            span::push(bridged.frame);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if none_bridged() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        if let Some(bridged) = extensions.get::<Bridged>() {
            span::pop(bridged.frame.index);
            session::exit_scope(&bridged.session);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if none_bridged() {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        if let Some(bridged) = extensions.get::<Bridged>() {
            bridged
                .session
                .close_span(bridged.frame.index, bridged.frame.start, None);
            BRIDGED_LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Makes a span that was created outside any session a charm span, when it is entered in one.
fn bridge_late<'a, R: LookupSpan<'a>>(span: &SpanRef<'a, R>) {
    if !session::gate_open() {
        return;
    }
    let Some(session) = session::current() else {
        return;
    };
    let (parent, entered_under) = span::parent_for_new_span(&session);
    let record = SpanRecord::open(
        Cow::Borrowed(span.metadata().name()),
        SpanId::INVALID,
        parent,
    );
    bridge_into(span, session, record, entered_under);
}

/// Opens `record` in `session` (or folds it) as the charm span of `tracing` span `span`.
fn bridge_into<'a, R: LookupSpan<'a>>(
    span: &SpanRef<'a, R>,
    session: Arc<Session>,
    record: SpanRecord,
    entered_under: SpanId,
) {
    if let Some(opened) = session.open_record(record) {
        BRIDGED_LIVE.fetch_add(1, Ordering::Relaxed);
        span.extensions_mut().insert(Bridged {
            session,
            frame: Frame {
                span_id: opened.span_id,
                index: opened.index,
                entered_under,
                start: opened.start,
            },
        });
    }
}

/// The charm span id of `tracing` span `id`, if it belongs to `session`.
fn bridged<S>(ctx: &Context<'_, S>, id: &Id, session: &Arc<Session>) -> Option<SpanId>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.span(id)?;
    let extensions = span.extensions();
    let bridged = extensions.get::<Bridged>()?;
    Arc::ptr_eq(&bridged.session, session).then_some(bridged.frame.span_id)
}

/// Whether span `index` of the session is a `tracing` span: the event's contextual `tracing`
/// span, when it is bridged, is the one the index came from.
fn bridged_indices_contain<S>(ctx: &Context<'_, S>, index: usize) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.lookup_current().is_some_and(|span| {
        span.extensions()
            .get::<Bridged>()
            .is_some_and(|bridged| bridged.frame.index == index)
    })
}

/// The index in the session's table of `tracing` span `id`, if it belongs to `session`.
fn bridged_index<S>(ctx: &Context<'_, S>, id: &Id, session: &Arc<Session>) -> Option<usize>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.span(id)?;
    let extensions = span.extensions();
    let bridged = extensions.get::<Bridged>()?;
    Arc::ptr_eq(&bridged.session, session).then_some(bridged.frame.index)
}

/// A `tracing` value as an attribute value.
fn value_of_u64(value: u64) -> Value {
    match i64::try_from(value) {
        Ok(value) => Value::I64(value),
        Err(_) => Value::String(value.to_string().into()),
    }
}

/// A span's fields: attributes, plus the `otel.*` fields tracing-opentelemetry also reads.
#[derive(Default)]
struct Fields {
    attributes: Vec<KeyValue>,
    name: Option<String>,
    kind: Option<SpanKind>,
    status_code: Option<String>,
    status_message: Option<String>,
}

impl Fields {
    fn add(&mut self, field: &Field, value: Value) {
        match field.name() {
            "otel.name" => self.name = Some(value.as_str().into_owned()),
            "otel.kind" => {
                self.kind = match value.as_str().to_ascii_lowercase().as_str() {
                    "client" => Some(SpanKind::Client),
                    "server" => Some(SpanKind::Server),
                    "producer" => Some(SpanKind::Producer),
                    "consumer" => Some(SpanKind::Consumer),
                    "internal" => Some(SpanKind::Internal),
                    _ => None,
                }
            }
            "otel.status_code" => self.status_code = Some(value.as_str().to_ascii_lowercase()),
            "otel.status_message" => self.status_message = Some(value.as_str().into_owned()),
            name => self.attributes.push(KeyValue::new(name, value)),
        }
    }

    fn apply_to(self, record: &mut SpanRecord) {
        if let Some(kind) = self.kind {
            record.kind = kind;
        }
        let status = match self.status_code.as_deref() {
            Some("ok") => Some(StatusRecord::Ok),
            Some("error") => Some(StatusRecord::Error(self.status_message.unwrap_or_default())),
            _ => None,
        };
        if self.attributes.is_empty() && status.is_none() {
            return;
        }
        let details = record.details_mut();
        if let Some(status) = status {
            details.status = status;
        }
        for attribute in self.attributes {
            details.attributes.retain(|kv| kv.key != attribute.key);
            details.attributes.push(attribute);
        }
    }
}

/// An event's fields: its message and the other fields as attributes.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl EventFields {
    fn add(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(value.as_str().into_owned());
        } else {
            self.attributes.push(KeyValue::new(field.name(), value));
        }
    }
}

/// What receives a `tracing` value, field by field.
trait AddField {
    fn add(&mut self, field: &Field, value: Value);
}

impl AddField for Fields {
    fn add(&mut self, field: &Field, value: Value) {
        Fields::add(self, field, value);
    }
}

impl AddField for EventFields {
    fn add(&mut self, field: &Field, value: Value) {
        EventFields::add(self, field, value);
    }
}

/// Turns each `tracing` value into an attribute value for `T`.
struct Visitor<'a, T>(&'a mut T);

impl<T: AddField> Visit for Visitor<'_, T> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.add(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.add(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.add(field, value_of_u64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.add(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.add(field, Value::String(value.to_owned().into()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .add(field, Value::String(format!("{value:?}").into()));
    }
}
