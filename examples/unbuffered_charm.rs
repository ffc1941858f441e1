//! A charm with the disk buffer off (`buffer_max_events = 0`) and a short deadline: one
//! direct delivery attempt per hook; on failure the trace is dropped with one warning. Its
//! configuration is on the struct (`endpoint` is not a field, so it names the method).

use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace_charm};

/// The charm; its tracing configuration is on the struct.
#[trace_charm(
    tracing_endpoint = "endpoint",
    buffer_max_events = 0,
    export_timeout_ms = 300
)]
pub struct Unbuffered {
    ctx: JujuContext,
}

#[trace_charm]
impl Unbuffered {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        Unbuffered { ctx }
    }

    fn endpoint(&self) -> Option<String> {
        std::env::var("TRACING_ENDPOINT").ok()
    }

    fn on_start(&self) -> Result<(), HandlerError> {
        log::info!("{} started", self.ctx.unit_name());
        Ok(())
    }
}

impl Charm for Unbuffered {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.on_start()
    }
}

fn main() -> std::process::ExitCode {
    // Records go to juju-log (debug-log); outside Juju, to stderr. INFO unless RUST_LOG says.
    charm_tracing::juju_log::init();
    charm_tracing::main(Unbuffered::new)
}
