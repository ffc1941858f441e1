use charm_tracing::{trace_charm, JujuContext};

#[trace_charm(tracing_endpoint = "tempo_url")]
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
