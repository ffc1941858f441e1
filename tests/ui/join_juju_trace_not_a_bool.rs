use charm_tracing::{trace_charm, JujuContext};

pub struct MyCharm {
    ctx: JujuContext,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint", join_juju_trace = "no")]
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
