use charm_tracing::trace;

#[trace]
struct Workload {
    port: u16,
}

fn main() {}
