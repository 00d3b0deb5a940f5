//! Expansion of `#[civic_auth_required]` on a `#[handler]` function.
//!
//! The handler gets a first parameter holding the (shared) user, so Poem extracts
//! (and, without a user, rejects) before any other extractor runs; the
//! original body runs as an inner function inside the user's task-local
//! scope, which is what `get_civic_user()` reads.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{spanned::Spanned, FnArg, ItemFn, Pat, PatIdent, PatType};

use crate::{
    requirements::{policy_name, Args, Requirements, StepUp},
    utils::{check_user_params, has_attr, is_attr, Lib},
};

const PLACEMENT: &str = "#[civic_auth_required] must be written directly above #[handler], \
                         for example:\n    #[civic_auth_required]\n    #[handler]\n    async fn hello() -> &'static str { .. }";

pub(crate) fn expand(item_fn: ItemFn, args: Args) -> syn::Result<TokenStream> {
    if let Some(receiver) = item_fn.sig.receiver() {
        return Err(syn::Error::new(
            receiver.span(),
            "on a poem-openapi operation, write #[civic_auth_required] above #[OpenApi] on the impl block, \
             not on the method",
        ));
    }
    if !has_attr(&item_fn.attrs, "handler") {
        return Err(syn::Error::new(item_fn.sig.ident.span(), PLACEMENT));
    }
    if let Err(error) = check_user_params(item_fn.sig.inputs.iter()) {
        // Without #[handler], Poem reports nothing more about this function.
        let mut item_fn = item_fn;
        item_fn.attrs.retain(|attr| !is_attr(attr, "handler"));
        let error = error.into_compile_error();
        return Ok(quote!(#error #[allow(dead_code)] #item_fn));
    }
    Ok(wrap(
        item_fn,
        &Lib::new(args.krate),
        &args.requirements,
        &args.step_up,
    ))
}

fn wrap(item_fn: ItemFn, lib: &Lib, requirements: &Requirements, step_up: &StepUp) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item_fn;
    let span = sig.ident.span();
    let private = lib.private(span);
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
    // With a step-up, its policy is a type of its own, which the extractor
    // checks before the handler runs.
    let policy = (!step_up.is_empty()).then(|| policy_name(&[&sig.ident]));
    let policy_item = policy.as_ref().map(|name| step_up.policy(name, &private));
    let extracted = match &policy {
        Some(name) => quote_spanned!(span=> #private::Authenticated<#name>),
        None => quote_spanned!(span=> #private::Authenticated),
    };
    outer_sig
        .inputs
        .insert(0, syn::parse_quote_spanned!(span=> #user: #extracted));

    let mut inner_sig = sig.clone();
    inner_sig.ident = inner.clone();
    let (_, turbofish, _) = sig.generics.split_for_impl();
    let turbofish = turbofish.as_turbofish();

    let mut call = if sig.asyncness.is_some() {
        quote_spanned! {span=>
            #private::scope(#user, #inner #turbofish (#(#forwarded),*)).await
        }
    } else {
        quote_spanned! {span=>
            #private::sync_scope(#user, move || #inner #turbofish (#(#forwarded),*))
        }
    };
    if !requirements.is_empty() {
        // A 403 is a different answer than the handler's own: answer either.
        let checks = requirements.to_array(&private);
        outer_sig.output = syn::parse_quote_spanned!(span=>
            -> #private::poem::Result<#private::poem::Response>
        );
        call = quote_spanned! {span=>
            #private::authorize(#user.user(), &#checks)?;
            #private::into_response(#call)
        };
    }

    quote! {
        #policy_item
        #(#attrs)*
        #vis #outer_sig {
            #[allow(clippy::too_many_arguments)]
            #inner_sig #block
            #call
        }
    }
}
