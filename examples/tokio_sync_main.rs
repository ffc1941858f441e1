//! The synchronous shop charm run with `charm_tracing::main` from inside `#[tokio::main]`:
//! delivery does not use (or mind) the caller's runtime.

#[path = "shop_charm.rs"]
mod shop_charm;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    shop_charm::main()
}
