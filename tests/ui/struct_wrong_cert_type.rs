use charm_tracing::{trace_charm, JujuContext};

#[trace_charm(tracing_endpoint = "tracing_endpoint", server_cert = "server_cert")]
struct MyCharm {
    ctx: JujuContext,
    tracing_endpoint: Option<String>,
}

#[trace_charm]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm { ctx, tracing_endpoint: None }
    }
    fn server_cert(&self) -> bool {
        let _ = &self.ctx;
        false
    }
}

fn main() {}
