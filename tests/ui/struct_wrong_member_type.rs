use charm_tracing::{trace_charm, JujuContext};

#[trace_charm(tracing_endpoint = "port")]
struct MyCharm {
    ctx: JujuContext,
    port: u16,
}

#[trace_charm]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm { ctx, port: 4318 }
    }
}

fn main() {}
