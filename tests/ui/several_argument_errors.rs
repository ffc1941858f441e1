// Several mistakes in one attribute: one message for each, at its own token, and nothing
// else (no follow-on error about the item, no leftover `#[trace]` marker).
use charm_tracing::{trace_charm, JujuContext};

struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm(
    tracing_endpoint = "tracing_endpoint",
    buffer_max_event = 100,
    trace_max_size_kib = 16,
    tracing_endpoint = "tracing_endpoint",
)]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm { ctx }
    }
    fn tracing_endpoint(&self) -> Option<String> {
        let _ = &self.ctx;
        None
    }
    #[trace(skip)]
    fn hot(&self) {}
}

fn main() {}
