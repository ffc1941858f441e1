use charm_tracing::{trace_charm, JujuContext};

struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "port")]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Self {
        MyCharm { ctx }
    }
    fn port(&self) -> u16 {
        let _ = &self.ctx;
        4318
    }
}

fn main() {}
