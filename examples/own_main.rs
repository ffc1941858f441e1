//! A charm with its own `main` that never calls `charm_tracing::shutdown()`: its spans are
//! still delivered when the process ends, whether `main` returns or the charm calls
//! `std::process::exit`.
//!
//! ```text
//! JUJU_UNIT_NAME=counter/0 JUJU_DISPATCH_PATH=hooks/start \
//!     TRACING_ENDPOINT=http://127.0.0.1:4318 target/debug/examples/own_main
//! ```

use charm_tracing::{JujuContext, trace_charm};

/// A charm that counts its hooks.
pub struct Counter {
    ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "endpoint")]
impl Counter {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        Counter { ctx }
    }

    fn endpoint(&self) -> Option<String> {
        std::env::var("TRACING_ENDPOINT").ok()
    }

    fn count(&self) -> usize {
        self.ctx.unit_name().len()
    }
}

fn main() {
    let ctx = match JujuContext::from_env() {
        Ok(ctx) => ctx,
        Err(error) => {
            eprintln!("not under Juju: {error}");
            std::process::exit(1);
        }
    };
    let charm = Counter::new(ctx);
    let _ = charm.count();
    if let Ok(code) = std::env::var("OWN_MAIN_EXIT_CODE") {
        std::process::exit(code.parse().unwrap_or(1));
    }
}
