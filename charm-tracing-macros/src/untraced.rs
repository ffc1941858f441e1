//! The `untraced` feature: the attributes leave the code exactly as written (the peer of
//! the traced build in whole-hook benchmarks).

use proc_macro::TokenStream;

/// The item unchanged, minus any `#[trace(...)]` on the methods of an impl block.
pub(crate) fn strip(item: TokenStream) -> TokenStream {
    crate::items::strip_markers(item.into()).into()
}
