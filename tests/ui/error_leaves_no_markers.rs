// One mistake, one message: the methods' `#[trace(...)]` markers do not survive next to the
// error (`trace` is not even imported here, as a charm under #[trace_charm] need not).
use charm_tracing::{trace_charm, JujuContext};

struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", buffer_max_size_mib = 5)]
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
    #[trace(name = "renamed")]
    fn renamed(&self) {}
}

fn main() {}
