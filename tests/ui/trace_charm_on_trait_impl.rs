use charm_tracing::{trace_charm, Charm, Event, HandlerError};

struct MyCharm;

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
impl Charm for MyCharm {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn main() {}
