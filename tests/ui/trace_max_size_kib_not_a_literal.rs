// On the struct: the error is the only message (the bare `#[trace_charm]` on the impl block
// finds a stand-in configuration).
use charm_tracing::{trace_charm, JujuContext};

const TRACE_KIB: u32 = 2048;

#[trace_charm(tracing_endpoint = "tracing_endpoint", trace_max_size_kib = TRACE_KIB)]
struct MyCharm {
    ctx: JujuContext,
    tracing_endpoint: Option<String>,
}

#[trace_charm]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        let _ = TRACE_KIB;
        MyCharm { ctx, tracing_endpoint: None }
    }
}

fn main() {}
