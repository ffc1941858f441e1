use charm_tracing::{trace_charm, JujuContext};

struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
impl MyCharm {
    pub fn new(ctx: JujuContext) -> Option<MyCharm> {
        Some(MyCharm { ctx })
    }
    fn tracing_endpoint(&self) -> Option<String> {
        None
    }
}

fn main() {}
