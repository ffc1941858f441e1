//! Wrapping one fn body in its span: the code every traced call runs.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{Block, FnArg, Pat, ReturnType, Signature, Type};

/// The name a span gets.
pub(crate) enum SpanName {
    /// Known at expansion time: `method call: Workload.configure`, `function call: f`.
    Fixed(String),
    /// A method under a lone `#[trace]`: the type is only known as `Self`, named at run time
    /// (once per method and `Self` type) from `std::any::type_name::<Self>()`.
    SelfMethod(String),
}

impl SpanName {
    fn expression(&self) -> TokenStream {
        let private = crate::private();
        match self {
            SpanName::Fixed(name) => quote!(#name),
            // The static is shared by every `Self` this code runs for (a trait's default
            // method, a blanket impl): it holds one type's name, the runtime the others'.
            SpanName::SelfMethod(method) => quote! {{
                static __CHARM_TRACING_NAME: #private::MethodNameCache =
                    #private::MethodNameCache::new();
                #private::method_span_name(
                    &__CHARM_TRACING_NAME,
                    ::std::any::type_name::<Self>(),
                    #method,
                )
            }},
        }
    }
}

fn contains_impl_trait(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => contains_impl_trait(group.stream()),
        _ => false,
    })
}

/// The type a `let` may be annotated with to pin the body's type, if it can be written there.
fn annotation(output: &ReturnType) -> Option<TokenStream> {
    match output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) => match ty.as_ref() {
            Type::Never(_) => None,
            ty if contains_impl_trait(ty.to_token_stream()) => None,
            ty => Some(ty.to_token_stream()),
        },
    }
}

fn returns_never(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if matches!(ty.as_ref(), Type::Never(_)))
}

/// Ends the span of `guard`, failed if `__charm_tracing_ret` is an `Err`.
fn finish(guard: &TokenStream) -> TokenStream {
    let private = crate::private();
    quote! {{
        #[allow(unused_imports)]
        use #private::{
            ViewAnyValue as _, ViewDisplayError as _, ViewError as _, ViewHandlerError as _,
        };
        #[allow(clippy::needless_borrow)] // the borrows select the impl
        #guard.finish(
            (&&&&#private::Outcome(&__charm_tracing_ret))
                .__charm_tracing_error(),
        );
    }}
}

/// Makes the `async move` block own every argument until it completes, as the `async fn` it
/// replaces did: arguments bound to a plain name are kept with `let _ = &name;`; any other
/// pattern (`_`, a tuple, a struct) is renamed in the signature and bound inside the block,
/// so that a guard taken as `_: Permit` still lives until the body ends.
fn keep_arguments(sig: &mut Signature) -> TokenStream {
    let mut kept = Vec::new();
    for (position, input) in sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(receiver) => {
                let name = receiver.self_token;
                kept.push(quote!(let _ = &#name;));
            }
            FnArg::Typed(typed) => match typed.pat.as_ref() {
                Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                    let name = &ident.ident;
                    kept.push(quote! {
                        #[allow(clippy::used_underscore_binding)]
                        let _ = &#name;
                    });
                }
                pattern => {
                    let pattern = pattern.clone();
                    let name = syn::Ident::new(
                        &format!("__charm_tracing_arg{position}"),
                        Span::call_site(),
                    );
                    *typed.pat = syn::parse_quote!(#name);
                    kept.push(quote! {
                        let _ = &#name;
                        let #pattern = #name;
                    });
                }
            },
        }
    }
    quote!(#(#kept)*)
}

/// When a traced `async fn`'s span opens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AsyncOpen {
    /// When the fn is called: it becomes a plain fn returning `impl Future`.
    AtCall,
    /// When its future is first polled: the fn stays an `async fn`, for attribute macros
    /// that expand after this one and need to see one (`#[tracing::instrument]`,
    /// `#[async_trait]`).
    AtFirstPoll,
}

/// The traced body of a fn with signature `sig` and body `block`.
///
/// An `async fn` becomes a plain fn returning `impl Future` (with [`AsyncOpen::AtCall`]):
/// its span opens when it is called, so a future spawned onto another task or joined with
/// others is parented where it was created, not wherever it is first polled.
pub(crate) fn traced_body(
    sig: &mut Signature,
    block: &Block,
    name: &SpanName,
    open: AsyncOpen,
) -> TokenStream {
    let private = crate::private();
    let name = name.expression();
    let typed = annotation(&sig.output).map(|ty| quote!(: #ty));
    if sig.asyncness.is_some() {
        let fake_return = annotation(&sig.output).map(|ty| {
            quote! {
                #[allow(unreachable_code, clippy::diverging_sub_expression)]
                if false {
                    let __charm_tracing_type_hint: #ty = loop {};
                    return __charm_tracing_type_hint;
                }
            }
        });
        let keep = match open {
            AsyncOpen::AtCall => keep_arguments(sig),
            AsyncOpen::AtFirstPoll => TokenStream::new(),
        };
        let statements = &block.stmts;
        let finish = finish(&quote!(__charm_tracing_token));
        let traced = quote! {{
            let __charm_tracing_span = #private::AsyncSpan::open(#name);
            let __charm_tracing_token = __charm_tracing_span.token();
            __charm_tracing_span.wrap(async move {
                #keep
                #[allow(clippy::let_unit_value)]
                let __charm_tracing_ret #typed = async move { #fake_return #(#statements)* }.await;
                #finish
                __charm_tracing_ret
            })
        }};
        if open == AsyncOpen::AtFirstPoll {
            return quote! {{ #traced.await }};
        }
        let output = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => ty.to_token_stream(),
        };
        sig.asyncness = None;
        // The macro's own span (edition 2024) on `impl`: the returned future captures every
        // lifetime in scope, as the `async fn` did, whatever the charm crate's edition.
        sig.output = syn::parse_quote_spanned! {Span::mixed_site()=>
            -> impl ::core::future::Future<Output = #output>
        };
        return traced;
    }
    if returns_never(&sig.output) {
        return quote! {{
            let __charm_tracing_guard = #private::enter(#name);
            #block
        }};
    }
    let finish = finish(&quote!(__charm_tracing_guard));
    // Naming the return type in the turbofish lets it flow into the body before the body is
    // checked, so coercions (`Box<E>` to `Box<dyn Error>`) and `?` conversions still work.
    let turbofish = annotation(&sig.output).map(|ty| quote!(::<#ty, _>));
    quote! {{
        let __charm_tracing_guard = #private::enter(#name);
        #[allow(clippy::let_unit_value)]
        let __charm_tracing_ret #typed =
            #private::call_once #turbofish (move || #block);
        #finish
        __charm_tracing_ret
    }}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impl_trait_returns_are_not_annotated() {
        let sig: Signature = syn::parse_quote!(fn f() -> impl Iterator<Item = u8>);
        assert!(annotation(&sig.output).is_none());
        let sig: Signature = syn::parse_quote!(fn f() -> Box<dyn Fn() -> impl Sized>);
        assert!(annotation(&sig.output).is_none());
        let sig: Signature = syn::parse_quote!(fn f() -> Result<u8, String>);
        assert!(annotation(&sig.output).is_some());
        let sig: Signature = syn::parse_quote!(fn f());
        assert_eq!(annotation(&sig.output).unwrap().to_string(), "()");
        let sig: Signature = syn::parse_quote!(fn f() -> !);
        assert!(annotation(&sig.output).is_none());
    }
}
