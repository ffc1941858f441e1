//! `#[trace]` on free fns, single methods and whole impl blocks.

use crate::args::TraceArgs;
use crate::instrument::{AsyncOpen, SpanName, traced_body};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ImplItem, ImplItemFn, Item, ItemFn, ItemImpl, Type};

/// Whether `attr` is `#[trace]` / `#[trace(...)]` / `#[charm_tracing::trace(...)]`.
/// Another crate's `trace` attribute (`#[fastrace::trace]`, say) is not ours and is left
/// alone: ours is `trace` as imported, or named through the facade.
pub(crate) fn is_trace_attr(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    matches!(
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["trace"] | ["charm_tracing", "trace"]
    )
}

/// `item` with our `#[trace(...)]` markers taken off the methods of an impl block: what is
/// emitted when the item is left as written (the `untraced` build, or next to an error, so
/// that one mistake gives one message and no marker is expanded on its own).
pub(crate) fn strip_markers(item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Impl(mut block)) => {
            for member in &mut block.items {
                if let ImplItem::Fn(method) = member {
                    method.attrs.retain(|attr| !is_trace_attr(attr));
                }
            }
            block.into_token_stream()
        }
        _ => item,
    }
}

/// Takes the `#[trace(...)]` attributes off a method and parses them.
pub(crate) fn take_trace_args(attrs: &mut Vec<Attribute>) -> syn::Result<TraceArgs> {
    let mut found: Option<TraceArgs> = None;
    let mut error: Option<syn::Error> = None;
    attrs.retain(|attr| {
        if !is_trace_attr(attr) {
            return true;
        }
        let parsed = match &attr.meta {
            syn::Meta::Path(_) => Ok(TraceArgs::default()),
            _ => attr.parse_args::<TraceArgs>(),
        };
        match (parsed, found.is_some()) {
            (Ok(_), true) => {
                let e = syn::Error::new(attr.span(), "#[trace] is given twice on this method");
                error.get_or_insert(e);
            }
            (Ok(args), false) => found = Some(args),
            (Err(e), _) => {
                error.get_or_insert(e);
            }
        }
        false
    });
    match error {
        Some(error) => Err(error),
        None => Ok(found.unwrap_or_default()),
    }
}

/// The short name of an impl's self type: `Store` for `Store<T>`, `&Store`, `crate::Store`.
pub(crate) fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| ty.to_token_stream().to_string(), |s| s.ident.to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        Type::Group(group) => type_name(&group.elem),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// Attribute macros that expand after ours and must still see an `async fn`.
const NEEDS_ASYNC_FN: &[&str] = &["instrument", "async_trait"];

/// When the spans of `async fn`s carrying `attrs` (or in a block carrying them) open: at
/// the first poll when another macro must still see an `async fn`, else at the call.
fn async_open(attrs: &[Attribute]) -> AsyncOpen {
    let needs_async_fn = attrs.iter().any(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| NEEDS_ASYNC_FN.iter().any(|name| segment.ident == name))
    });
    if needs_async_fn {
        AsyncOpen::AtFirstPoll
    } else {
        AsyncOpen::AtCall
    }
}

fn has_receiver(method: &ImplItemFn) -> bool {
    matches!(method.sig.inputs.first(), Some(FnArg::Receiver(_)))
}

/// Traces every method of `block` except const fns, `#[trace(skip)]` ones and those
/// `exclude` names; `#[trace(name = ...)]` renames.
pub(crate) fn trace_impl_methods(
    block: &mut ItemImpl,
    exclude: &dyn Fn(&ImplItemFn) -> bool,
) -> syn::Result<()> {
    let type_name = type_name(&block.self_ty);
    let block_open = async_open(&block.attrs);
    let mut errors: Option<syn::Error> = None;
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let args = match take_trace_args(&mut method.attrs) {
            Ok(args) => args,
            Err(e) => {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
                continue;
            }
        };
        if args.skip || method.sig.constness.is_some() || exclude(method) {
            continue;
        }
        let name = args.name.map_or_else(
            || format!("method call: {type_name}.{}", method.sig.ident),
            |n| n.value(),
        );
        let open = match block_open {
            AsyncOpen::AtFirstPoll => AsyncOpen::AtFirstPoll,
            AsyncOpen::AtCall => async_open(&method.attrs),
        };
        let body = traced_body(&mut method.sig, &method.block, &SpanName::Fixed(name), open);
        method.block = syn::parse2(body)?;
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `#[trace]` / `#[trace(...)]` on an item.
pub(crate) fn trace(args: TraceArgs, item: Item) -> syn::Result<TokenStream> {
    match item {
        Item::Fn(function) => trace_fn(args, function),
        Item::Impl(mut block) => {
            if args.skip {
                return Ok(block.into_token_stream());
            }
            if let Some(name) = &args.name {
                return Err(syn::Error::new(
                    name.span(),
                    "`name` applies to one method: put `#[trace(name = \"...\")]` on the \
                     method inside the impl block",
                ));
            }
            trace_impl_methods(&mut block, &|_| false)?;
            Ok(block.into_token_stream())
        }
        Item::Struct(_) | Item::Enum(_) | Item::Union(_) => Err(syn::Error::new(
            Span::call_site(),
            "#[trace] on a type has no effect in Rust: put `#[trace]` on the type's `impl` \
             block to trace its methods",
        )),
        other => Err(syn::Error::new(
            other.span(),
            "#[trace] goes on a fn, a method, or an `impl` block",
        )),
    }
}

use proc_macro2::Span;

fn trace_fn(args: TraceArgs, mut function: ItemFn) -> syn::Result<TokenStream> {
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "a `const fn` cannot be traced (it may run at compile time): remove `#[trace]`, \
             or remove `const`",
        ));
    }
    if args.skip {
        return Ok(function.into_token_stream());
    }
    let is_method = matches!(function.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let ident = function.sig.ident.to_string();
    let name = match (args.name, is_method) {
        (Some(name), _) => SpanName::Fixed(name.value()),
        (None, true) => SpanName::SelfMethod(ident),
        (None, false) => SpanName::Fixed(format!("function call: {ident}")),
    };
    let open = async_open(&function.attrs);
    let body = traced_body(&mut function.sig, &function.block, &name, open);
    function.block = Box::new(syn::parse2(body)?);
    Ok(quote!(#function))
}

/// Whether `method` has a `self` receiver (used by the charm macro's checks).
pub(crate) fn is_method(method: &ImplItemFn) -> bool {
    has_receiver(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_trace_attribute_is_a_marker() {
        let ours: Attribute = syn::parse_quote!(#[trace(skip)]);
        let through_the_facade: Attribute = syn::parse_quote!(#[charm_tracing::trace]);
        let theirs: Attribute = syn::parse_quote!(#[fastrace::trace]);
        let other: Attribute = syn::parse_quote!(#[tracing::instrument]);
        assert!(is_trace_attr(&ours));
        assert!(is_trace_attr(&through_the_facade));
        assert!(!is_trace_attr(&theirs));
        assert!(!is_trace_attr(&other));
    }

    #[test]
    fn markers_are_stripped_from_an_impl_left_as_written() {
        let item = quote! {
            impl C {
                #[trace(skip)]
                fn a(&self) {}
                #[fastrace::trace]
                fn b(&self) {}
            }
        };
        let stripped = strip_markers(item).to_string();
        assert!(!stripped.contains("skip"), "{stripped}");
        assert!(stripped.contains("fastrace"), "{stripped}");
    }
}
