//! A charm using the Juju integration: logs through `juju-log`, dispatches on typed events,
//! runs its own hook tools through `charm_tracing::hook_tool` (each one a span), and takes
//! its endpoint from Juju (`JUJU_CHARM_TRACE_CONFIG_HTTP`) when its own member gives none.
//!
//! `CHARM_FORM=link-struct` or `link-impl` picks a variant with `join_juju_trace = false`
//! (configured on the struct, or on the impl block); the default joins Juju's trace.
//! `CHARM_ENDPOINT` / `CHARM_CA` are what the charm's own member gives; `LOG_LINES` is how
//! many lines the install hook logs.
//!
//! ```text
//! JUJU_UNIT_NAME=shop/0 JUJU_DISPATCH_PATH=hooks/install \
//!     JUJU_CHARM_TRACE_CONFIG_HTTP=http://127.0.0.1:4318 target/debug/examples/juju_charm
//! ```

use charm_tracing::{
    Charm, Event, EventKind, HandlerError, JujuContext, Lifecycle, RelationEvent, hook_tool,
    trace_charm,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// What every variant does in its hooks.
fn handle(event: &Event) -> Result<(), HandlerError> {
    match event.typed() {
        EventKind::Lifecycle(Lifecycle::Install) => {
            let lines: usize = std::env::var("LOG_LINES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            for line in 0..lines {
                log::info!("installing, step {line}");
            }
            Ok(())
        }
        EventKind::Lifecycle(Lifecycle::UpdateStatus) => {
            let leader = hook_tool("is-leader", ["--format=json"])?;
            let ids = hook_tool("relation-ids", ["tracing", "--format=json"])?;
            log::info!(
                "leader: {}, tracing relations: {}",
                leader.trim(),
                ids.trim()
            );
            hook_tool(
                "relation-set",
                ["-r", "tracing:7", "--app", "token=s3cr3t-value"],
            )?;
            // A failing call is a failed span and a typed error the charm can handle.
            if let Err(error) = hook_tool("no-such-tool", ["--flag"]) {
                log::warn!("as expected: {error}");
            }
            Ok(())
        }
        EventKind::Relation {
            relation,
            event: RelationEvent::Changed,
        } => {
            log::info!("{relation} changed");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn endpoint() -> Option<String> {
    std::env::var("CHARM_ENDPOINT").ok()
}

fn cert() -> Option<PathBuf> {
    std::env::var_os("CHARM_CA").map(PathBuf::from)
}

/// Joins Juju's trace (the default).
pub struct Joining {
    _ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", server_cert = "server_cert")]
impl Joining {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        Joining { _ctx: ctx }
    }
    fn tracing_endpoint(&self) -> Option<String> {
        endpoint()
    }
    fn server_cert(&self) -> Option<PathBuf> {
        cert()
    }
}

impl Charm for Joining {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        handle(event)
    }
}

/// A trace of its own, linked to Juju's span; configured on the struct.
#[trace_charm(
    tracing_endpoint = "tracing_endpoint()",
    server_cert = "server_cert()",
    join_juju_trace = false
)]
pub struct LinkingStruct {
    _ctx: JujuContext,
}

#[trace_charm]
impl LinkingStruct {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        LinkingStruct { _ctx: ctx }
    }
}

impl LinkingStruct {
    fn tracing_endpoint(&self) -> Option<String> {
        endpoint()
    }
    fn server_cert(&self) -> Option<PathBuf> {
        cert()
    }
}

impl Charm for LinkingStruct {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        handle(event)
    }
}

/// A trace of its own, linked to Juju's span; configured on the impl block.
pub struct LinkingImpl {
    _ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", join_juju_trace = false)]
impl LinkingImpl {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        LinkingImpl { _ctx: ctx }
    }
    fn tracing_endpoint(&self) -> Option<String> {
        endpoint()
    }
}

impl Charm for LinkingImpl {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        handle(event)
    }
}

/// The hook entry point.
pub fn main() -> ExitCode {
    charm_tracing::juju_log::init();
    match std::env::var("CHARM_FORM").as_deref() {
        Ok("link-struct") => charm_tracing::main(LinkingStruct::new),
        Ok("link-impl") => charm_tracing::main(LinkingImpl::new),
        _ => charm_tracing::main(Joining::new),
    }
}
