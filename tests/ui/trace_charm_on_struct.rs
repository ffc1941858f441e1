use charm_tracing::trace_charm;

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
struct MyCharm {
    tracing_endpoint: Option<String>,
}

fn main() {}
