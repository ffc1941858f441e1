//! A charm whose hook loops over a large list: the trace stays bounded however many traced
//! calls the hook makes (calls past the budget are folded into fold spans).
//!
//! ```text
//! JUJU_UNIT_NAME=loop/0 JUJU_DISPATCH_PATH=hooks/update-status LOOP_CALLS=10000000 \
//!     LOOP_TRACING_ENDPOINT=http://127.0.0.1:4318 target/release/examples/loop_charm
//! ```
//!
//! `LOOP_CALLS` traced calls of `Work.step` (default 1000); `LOOP_NESTED=1`: each step makes
//! one traced `Work.inner` call; `LOOP_FAIL_EVERY=k`: every k-th step returns an error (which
//! the handler counts and lets go); `LOOP_SMALL=1`: the charm with a 64 KiB trace budget;
//! `LOOP_HUGE=1`: the charm with a 32 MiB one (a record larger than the buffer's 10 MiB);
//! `LOOP_OFF=1`: the loop runs under `charm_tracing::disabled()` (the same work, no spans).

use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use std::fmt;
use std::process::ExitCode;

/// A step that did not go through.
#[derive(Debug)]
pub struct StepError(u64);

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} is broken", self.0)
    }
}

impl std::error::Error for StepError {}

/// The loop's work, traced on its own type.
pub struct Work {
    nested: bool,
    fail_every: u64,
}

#[trace]
impl Work {
    /// One item of the list.
    pub fn step(&self, item: u64) -> Result<u64, StepError> {
        let value = if self.nested {
            self.inner(item)
        } else {
            std::hint::black_box(item).wrapping_mul(3)
        };
        if self.fail_every > 0 && item.is_multiple_of(self.fail_every) {
            return Err(StepError(item));
        }
        Ok(value)
    }

    /// A call nested in each step.
    pub fn inner(&self, item: u64) -> u64 {
        std::hint::black_box(item).wrapping_mul(5)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// The hook's loop: `LOOP_CALLS` steps; the failed ones are counted, not fatal.
fn run_loop() {
    let work = Work {
        nested: env_flag("LOOP_NESTED"),
        fail_every: env_number("LOOP_FAIL_EVERY", 0),
    };
    let calls = env_number("LOOP_CALLS", 1000);
    let _off = env_flag("LOOP_OFF").then(charm_tracing::disabled);
    let mut failed = 0u64;
    let mut sum = 0u64;
    for item in 0..calls {
        match work.step(item) {
            Ok(value) => sum = sum.wrapping_add(value),
            Err(_) => failed += 1,
        }
    }
    log::info!("{calls} steps, {failed} failed (checksum {sum})");
}

/// The charm, with the default trace budget (4096 KiB).
pub struct LoopCharm {
    tracing_endpoint: Option<String>,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
impl LoopCharm {
    pub fn new(_ctx: JujuContext) -> Self {
        LoopCharm {
            tracing_endpoint: std::env::var("LOOP_TRACING_ENDPOINT").ok(),
        }
    }
}

impl Charm for LoopCharm {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        run_loop();
        Ok(())
    }
}

/// The same charm with a 64 KiB trace budget.
pub struct SmallLoopCharm {
    tracing_endpoint: Option<String>,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", trace_max_size_kib = 64)]
impl SmallLoopCharm {
    pub fn new(_ctx: JujuContext) -> Self {
        SmallLoopCharm {
            tracing_endpoint: std::env::var("LOOP_TRACING_ENDPOINT").ok(),
        }
    }
}

impl Charm for SmallLoopCharm {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        run_loop();
        Ok(())
    }
}

/// The same charm with a 32 MiB trace budget, above the buffer's 10 MiB.
pub struct HugeLoopCharm {
    tracing_endpoint: Option<String>,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", trace_max_size_kib = 32768)]
impl HugeLoopCharm {
    pub fn new(_ctx: JujuContext) -> Self {
        HugeLoopCharm {
            tracing_endpoint: std::env::var("LOOP_TRACING_ENDPOINT").ok(),
        }
    }
}

impl Charm for HugeLoopCharm {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        run_loop();
        Ok(())
    }
}

/// The hook entry point.
pub fn main() -> ExitCode {
    charm_tracing::juju_log::init();
    if env_flag("LOOP_SMALL") {
        charm_tracing::main(SmallLoopCharm::new)
    } else if env_flag("LOOP_HUGE") {
        charm_tracing::main(HugeLoopCharm::new)
    } else {
        charm_tracing::main(LoopCharm::new)
    }
}
