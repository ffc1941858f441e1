use charm_tracing::{trace_charm, JujuContext};

#[trace_charm(tracing_endpoint = "2")]
struct MyCharm(JujuContext, Option<String>);

#[trace_charm]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm(ctx, None)
    }
}

fn main() {}
