//! The Juju side: the hook's context and event kinds, hook tools (as spans), the `tracing`
//! relation, `juju-log`, the endpoint and trace parent Juju hands a hook. Depends on
//! `collect` (hook-tool spans) and `export` (endpoint and certificate types).

pub(crate) mod context;
pub(crate) mod endpoint_source;
pub(crate) mod event_kind;
pub(crate) mod hook_tool_span;
pub(crate) mod hook_tools;
pub mod juju_log;
pub mod relation;
pub(crate) mod trace_parent;
