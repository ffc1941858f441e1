use charm_tracing::{trace_charm, JujuContext};

struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm]
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
