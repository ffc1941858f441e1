//! The example shop charm (`examples/shop_charm.rs`), built as a binary of this package for
//! the whole-hook benchmarks: an example of the facade would be built with the facade's
//! dev-dependencies, whose features (tokio's multi-thread runtime, for the async examples)
//! would then be linked into the charm and measured as if they were the charm's own.

#[path = "../../../examples/shop_charm.rs"]
mod shop_charm;

fn main() -> std::process::ExitCode {
    shop_charm::main()
}
