//! Recording a hook's spans: the on/off gate and the session registry (`session`), the span
//! table and the trace's size budget (`table`, its memory from `chunk`), fold spans for the calls past it (`fold`),
//! span and trace ids (`ids`),
//! the thread's span stack and span guards (`span`), span records and the clock, a sealed
//! trace's spans in the order they are sent (`sealed`),
//! error views (`outcome`), panic capture, and the bridges from the OpenTelemetry API and
//! from `tracing`. Depends on no other part of the runtime: a sealed session hands plain
//! span data to a [`session::Sink`].

pub(crate) mod backtrace;
pub(crate) mod bridge;
pub(crate) mod chunk;
pub(crate) mod clock;
pub(crate) mod enabled;
pub(crate) mod fold;
pub(crate) mod ids;
pub mod outcome;
pub(crate) mod panics;
pub(crate) mod record;
pub(crate) mod sealed;
pub(crate) mod session;
pub mod span;
pub(crate) mod table;
#[cfg(feature = "tracing")]
pub(crate) mod tracing_layer;
