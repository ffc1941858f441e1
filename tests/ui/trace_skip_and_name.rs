use charm_tracing::trace;

struct Workload;

#[trace]
impl Workload {
    #[trace(skip, name = "hot")]
    fn hot(&self) {}
}

fn main() {
    Workload.hot();
}
