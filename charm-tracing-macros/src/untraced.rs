//! The `untraced` feature: the attributes leave the code exactly as written (the peer of
//! the traced build in whole-hook benchmarks).

use proc_macro::TokenStream;
use quote::ToTokens;

/// The item unchanged, minus any `#[trace(...)]` on the methods of an impl block.
pub(crate) fn strip(item: TokenStream) -> TokenStream {
    match syn::parse::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(mut block)) => {
            for member in &mut block.items {
                if let syn::ImplItem::Fn(method) = member {
                    method.attrs.retain(|attr| {
                        attr.path()
                            .segments
                            .last()
                            .is_none_or(|segment| segment.ident != "trace")
                    });
                }
            }
            block.into_token_stream().into()
        }
        _ => item,
    }
}
