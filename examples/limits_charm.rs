//! A charm for the fault runs of `tests/hardening.rs`: a buffer of exactly 100 records,
//! `LIMITS_ENDPOINT` as its endpoint, and handlers that fail in awkward ways: `update-status`
//! calls a traced fn returning an error whose `Display` and `Debug` both fail (the caller
//! handles it), `config-changed` fails the hook with an ordinary error; `start` just succeeds.

use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use std::fmt;

/// An error that cannot be formatted: `Display` and `Debug` both return `Err`.
pub struct Unprintable;

impl fmt::Display for Unprintable {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}

impl fmt::Debug for Unprintable {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}

impl std::error::Error for Unprintable {}

/// A traced function returning the unprintable error.
#[trace]
pub fn awkward() -> Result<(), Unprintable> {
    Err(Unprintable)
}

/// The charm; its tracing configuration is on the struct.
#[trace_charm(tracing_endpoint = "endpoint", buffer_max_events = 100)]
pub struct Limits {
    ctx: JujuContext,
}

#[trace_charm]
impl Limits {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        Limits { ctx }
    }

    fn endpoint(&self) -> Option<String> {
        std::env::var("LIMITS_ENDPOINT").ok()
    }

    fn on_start(&self) -> Result<(), HandlerError> {
        log::info!("{} started", self.ctx.unit_name());
        Ok(())
    }

    fn on_update_status(&self) -> Result<(), HandlerError> {
        if awkward().is_err() {
            log::info!("{}: the awkward error was handled", self.ctx.unit_name());
        }
        Ok(())
    }

    fn on_config_changed(&self) -> Result<(), HandlerError> {
        self.check()?;
        Ok(())
    }

    /// Fails with an ordinary error.
    fn check(&self) -> Result<(), std::io::Error> {
        Err(std::io::Error::other("bad config"))
    }
}

impl Charm for Limits {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        match event.kind() {
            "config_changed" => self.on_config_changed(),
            "update_status" => self.on_update_status(),
            _ => self.on_start(),
        }
    }
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    charm_tracing::main(Limits::new)
}
