use charm_tracing::{trace_charm, JujuContext};

struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", trace_max_size_kib = 16)]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm { ctx }
    }
    fn tracing_endpoint(&self) -> Option<String> {
        let _ = &self.ctx;
        None
    }
}

fn main() {}
