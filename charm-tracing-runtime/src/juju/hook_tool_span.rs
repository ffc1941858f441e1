//! Hook-tool calls as spans, as ops[tracing] has them: every hook tool the crate runs (never
//! `juju-log`) is a span named after the tool, a child of the current span, kind INTERNAL,
//! with `juju.hook_tool.exit_code` (`-1` when the tool did not exit: not found, killed
//! after its time limit) and, for tools that carry no data, `juju.hook_tool.args` (the
//! arguments, a string array). A failed call marks its span failed with the error.
//!
//! Arguments are recorded only for tools known to carry no data ([`ARGS_RECORDED_FOR`]):
//! never for `relation-set`, `leader-set`, `state-set`, `action-set`, `action-log`,
//! `action-fail`, `status-set` (free text), `secret-*`, nor for any tool not in the list.

use crate::collect::bridge::BridgeTracer;
use crate::juju::hook_tools::{HookToolError, HookTools};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use std::ffi::{OsStr, OsString};

/// The hook tools whose arguments are recorded: they name things (relations, units, keys,
/// ports), they carry no data. Every other tool's arguments are left out.
///
/// ```
/// use charm_tracing_runtime::ARGS_RECORDED_FOR;
///
/// assert!(ARGS_RECORDED_FOR.contains(&"relation-get"));
/// assert!(!ARGS_RECORDED_FOR.contains(&"relation-set"));
/// ```
pub const ARGS_RECORDED_FOR: &[&str] = &[
    "relation-get",
    "relation-ids",
    "relation-list",
    "relation-model-get",
    "is-leader",
    "leader-get",
    "config-get",
    "action-get",
    "state-get",
    "state-delete",
    "status-get",
    "network-get",
    "unit-get",
    "opened-ports",
    "open-port",
    "close-port",
    "storage-get",
    "storage-list",
    "storage-add",
    "resource-get",
    "goal-state",
    "application-version-set",
    "credential-get",
    "juju-reboot",
];

/// The span of one hook-tool call; inert outside a session.
pub(crate) struct HookToolSpan(Option<crate::collect::bridge::CharmSpan>);

impl HookToolSpan {
    pub(crate) fn start(tool: &str, args: &[OsString]) -> Self {
        if !crate::collect::session::gate_open() || tool == "juju-log" {
            return HookToolSpan(None);
        }
        let mut attributes = Vec::new();
        if ARGS_RECORDED_FOR.contains(&tool) {
            let args: Vec<StringValue> = args
                .iter()
                .map(|a| StringValue::from(a.to_string_lossy().into_owned()))
                .collect();
            attributes.push(KeyValue::new(
                "juju.hook_tool.args",
                Value::Array(Array::String(args)),
            ));
        }
        let builder = BridgeTracer
            .span_builder(tool.to_owned())
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes);
        let span = BridgeTracer.build_with_context(builder, &Context::new());
        HookToolSpan(span.is_recording().then_some(span))
    }

    pub(crate) fn end(self, exit_code: Option<i32>, error: Option<&HookToolError>) {
        let Some(mut span) = self.0 else {
            return;
        };
        span.set_attribute(KeyValue::new(
            "juju.hook_tool.exit_code",
            i64::from(exit_code.unwrap_or(-1)),
        ));
        if let Some(error) = error {
            span.set_status(Status::error(error.to_string()));
        }
        span.end();
    }
}

/// Runs the Juju hook tool `tool` with `args` (from `PATH`, killed after 5 s) and returns
/// its stdout: the charm's own hook-tool calls, traced like the crate's (a span named after
/// the tool, `juju.hook_tool.exit_code`, arguments only for [`ARGS_RECORDED_FOR`]). For
/// another time limit, use [`HookTools`](crate::juju::relation::HookTools).
///
/// ```
/// use charm_tracing_runtime::{hook_tool, relation::HookToolError};
///
/// // Outside Juju the tools are not on PATH.
/// match hook_tool("no-such-hook-tool", ["--format=json"]) {
///     Err(HookToolError::NotFound { tool }) => assert_eq!(tool, "no-such-hook-tool"),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn hook_tool<I, S>(tool: &str, args: I) -> Result<String, HookToolError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    HookTools::new().run(tool, args)
}
