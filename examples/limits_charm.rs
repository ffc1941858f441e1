//! A charm for the fault runs of `tests/hardening.rs`: a buffer of exactly 100 records,
//! `LIMITS_ENDPOINT` as its endpoint, and handlers that fail in awkward ways: `update-status`
//! calls a traced fn returning an error whose `Display` and `Debug` both fail (the caller
//! handles it), `config-changed` fails the hook with an ordinary error; `start` just succeeds.
//! With `LIMITS_PANICKING_LOGGER=1` its logger panics on charm-tracing's delivery report, so
//! delivery itself panics after the write-ahead.

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

/// A logger that writes to stderr and panics on charm-tracing's delivery report.
struct PanickingLogger;

impl log::Log for PanickingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = record.args().to_string();
        if message.contains("kept in the buffer") {
            panic!("the logger fails");
        }
        eprintln!("[{:<5} {}] {message}", record.level(), record.target());
    }

    fn flush(&self) {}
}

fn main() -> std::process::ExitCode {
    if std::env::var_os("LIMITS_PANICKING_LOGGER").is_some() {
        let _ = log::set_logger(&PanickingLogger);
        log::set_max_level(log::LevelFilter::Info);
    } else {
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    }
    charm_tracing::main(Limits::new)
}
