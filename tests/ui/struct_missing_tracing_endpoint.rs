use charm_tracing::{trace_charm, JujuContext};

#[trace_charm(service_name = "my-service")]
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
