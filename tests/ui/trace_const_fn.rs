use charm_tracing::trace;

#[trace]
const fn answer() -> u8 {
    42
}

fn main() {
    let _ = answer();
}
