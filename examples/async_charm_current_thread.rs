//! The async example charm (`async_charm.rs`) on a current-thread tokio runtime.

#[path = "async_charm.rs"]
#[allow(dead_code)] // its multi-thread `main`
mod async_charm;

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    async_charm::init();
    charm_tracing::main_async(async_charm::AsyncShop::new).await
}
