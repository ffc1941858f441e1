use charm_tracing::trace;

#[trace(level = "debug")]
fn render() {}

fn main() {
    render();
}
