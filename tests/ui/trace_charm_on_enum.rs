use charm_tracing::trace_charm;

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
enum MyCharm {
    Installing,
    Running,
}

fn main() {}
