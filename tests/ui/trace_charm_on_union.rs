use charm_tracing::trace_charm;

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
union MyCharm {
    port: u16,
    flags: u32,
}

fn main() {}
