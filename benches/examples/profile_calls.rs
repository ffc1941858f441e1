use charm_tracing::testing::run_hook;
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use std::hint::black_box;

#[trace]
#[inline(never)]
fn charm_traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

struct P;
#[trace_charm(tracing_endpoint = "endpoint")]
impl P {
    fn new(_ctx: JujuContext) -> Self {
        P
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
}
impl Charm for P {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        let n: u64 = std::env::var("N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20000);
        let t = std::time::Instant::now();
        for i in 0..n {
            black_box(charm_traced(i));
        }
        eprintln!("{:.1} ns/call", t.elapsed().as_nanos() as f64 / n as f64);
        Ok(())
    }
}
fn main() {
    let rounds: u32 = std::env::var("R")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    for _ in 0..rounds {
        let _ = run_hook(JujuContext::new("p/0", "hooks/start"), P::new);
    }
}
