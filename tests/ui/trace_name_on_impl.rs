use charm_tracing::trace;

struct Workload;

#[trace(name = "workload")]
impl Workload {
    fn run(&self) {}
}

fn main() {
    Workload.run();
}
