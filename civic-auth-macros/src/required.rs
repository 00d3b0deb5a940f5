//! Expansion of `#[civic_auth_required]` on a `#[handler]` function.
//!
//! The handler gets a first parameter of type `CivicUser`, so Poem extracts
//! (and, without a session, rejects) before any other extractor runs; the
//! original body runs as an inner function inside the user's task-local
//! scope, which is what `get_civic_user()` reads.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{spanned::Spanned, FnArg, Item, ItemFn, Pat, PatIdent, PatType};

const PLACEMENT: &str = "#[civic_auth_required] must be written directly above #[handler], \
                         for example:\n    #[civic_auth_required]\n    #[handler]\n    async fn hello() -> &'static str { .. }";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new(
            args.span(),
            "#[civic_auth_required] takes no arguments; write it as `#[civic_auth_required]`",
        ));
    }
    let item_fn = match syn::parse2::<Item>(item)? {
        Item::Fn(item_fn) => item_fn,
        other => {
            return Err(syn::Error::new(
                item_span(&other),
                "#[civic_auth_required] protects a handler function: put it on an `async fn` marked #[handler]",
            ))
        }
    };
    if !item_fn.attrs.iter().any(is_handler_attr) {
        return Err(syn::Error::new(item_fn.sig.ident.span(), PLACEMENT));
    }
    if let Some(receiver) = item_fn.sig.receiver() {
        return Err(syn::Error::new(
            receiver.span(),
            "#[civic_auth_required] protects free handler functions; a method with `self` cannot be a #[handler]",
        ));
    }
    Ok(wrap(item_fn))
}

fn is_handler_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "handler")
}

fn wrap(item_fn: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item_fn;
    let span = sig.ident.span();
    let user = format_ident!("__civic_auth_user", span = Span::mixed_site());
    let inner = format_ident!("__civic_auth_handler", span = Span::mixed_site());

    // The outer function forwards each parameter by a plain name, since the
    // user's own parameters may be patterns like `Path(id): Path<u32>`.
    let mut outer_sig = sig.clone();
    let mut forwarded = Vec::new();
    for (index, input) in outer_sig.inputs.iter_mut().enumerate() {
        if let FnArg::Typed(PatType { pat, .. }) = input {
            let name = format_ident!("__civic_auth_arg{}", index, span = Span::mixed_site());
            **pat = Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: name.clone(),
                subpat: None,
            });
            forwarded.push(name);
        }
    }
    outer_sig.inputs.insert(
        0,
        syn::parse_quote_spanned!(span=> #user: ::civic_auth_poem::CivicUser),
    );

    let mut inner_sig = sig.clone();
    inner_sig.ident = inner.clone();
    let (_, turbofish, _) = sig.generics.split_for_impl();
    let turbofish = turbofish.as_turbofish();

    let call = if sig.asyncness.is_some() {
        quote_spanned! {span=>
            ::civic_auth_poem::__private::scope(#user, #inner #turbofish (#(#forwarded),*)).await
        }
    } else {
        quote_spanned! {span=>
            ::civic_auth_poem::__private::sync_scope(#user, move || #inner #turbofish (#(#forwarded),*))
        }
    };

    quote! {
        #(#attrs)*
        #vis #outer_sig {
            #[allow(clippy::too_many_arguments)]
            #inner_sig #block
            #call
        }
    }
}

fn item_span(item: &Item) -> Span {
    match item {
        Item::Struct(s) => s.ident.span(),
        Item::Enum(e) => e.ident.span(),
        Item::Impl(i) => i.impl_token.span,
        Item::Mod(m) => m.ident.span(),
        Item::Const(c) => c.ident.span(),
        Item::Static(s) => s.ident.span(),
        Item::Trait(t) => t.ident.span(),
        other => other.span(),
    }
}
