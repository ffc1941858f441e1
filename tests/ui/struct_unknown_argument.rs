use charm_tracing::{trace_charm, JujuContext};

#[trace_charm(tracing_endpoint = "tracing_endpoint", buffer_max_event = 5)]
struct MyCharm {
    ctx: JujuContext,
    tracing_endpoint: Option<String>,
}

#[trace_charm]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm { ctx, tracing_endpoint: None }
    }
}

fn main() {}
