//! Helpers both expansions share. This module imports neither of them.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::quote_spanned;
use syn::{spanned::Spanned, FnArg, Item, PatType};

/// How the user's crate names civic-auth-poem.
pub(crate) enum Lib {
    /// Its name in the user's `Cargo.toml`, which may rename it.
    Found(String),
    /// `crate = path`, for a crate that reaches it through a re-export.
    Given(syn::Path),
}

impl Lib {
    pub(crate) fn new(given: Option<syn::Path>) -> Self {
        if let Some(path) = given {
            return Self::Given(path);
        }
        match crate_name("civic-auth-poem") {
            Ok(FoundCrate::Name(name)) => Self::Found(name),
            // `Itself`: the library's own doctests, separate crates that
            // name it `civic_auth_poem` (there `crate` is the doctest).
            // Not found: a crate that reaches it otherwise, for which the
            // usual name is the best guess and `crate = path` the remedy.
            Ok(FoundCrate::Itself) | Err(_) => Self::Found("civic_auth_poem".into()),
        }
    }

    /// `<lib>::__private`, which starts every path the expansion emits.
    /// Only `__private` is reached, so the library's public modules may
    /// move without breaking the expansion.
    pub(crate) fn private(&self, span: Span) -> TokenStream {
        match self {
            Self::Found(name) => {
                let name = syn::Ident::new(name, span);
                quote_spanned!(span=> ::#name::__private)
            }
            Self::Given(path) => quote_spanned!(span=> #path::__private),
        }
    }
}

/// A user parameter a protected handler cannot use as written.
pub(crate) fn check_user_params<'a>(inputs: impl Iterator<Item = &'a FnArg>) -> syn::Result<()> {
    for input in inputs {
        let FnArg::Typed(PatType { ty, .. }) = input else {
            continue;
        };
        let names_user = |ty: &syn::Type| matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CivicUser"));
        match ty.as_ref() {
            syn::Type::Reference(r) if names_user(&r.elem) => {
                return Err(syn::Error::new(
                    ty.span(),
                    "take the user by value, as `user: CivicUser`: handlers cannot borrow it from the request",
                ))
            }
            syn::Type::Path(p) => {
                let last = p.path.segments.last();
                let optional_user = last.is_some_and(|s| {
                    s.ident == "Option"
                        && matches!(&s.arguments, syn::PathArguments::AngleBracketed(a)
                            if a.args.iter().any(|arg| matches!(arg, syn::GenericArgument::Type(t) if names_user(t))))
                });
                if optional_user {
                    return Err(syn::Error::new(
                        ty.span(),
                        "a protected handler always has a user: take `user: CivicUser`, not `Option<CivicUser>`",
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn has_attr(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs.iter().any(|attr| is_attr(attr, name))
}

/// Matched on the last segment, so `#[poem::handler]` counts as `#[handler]`.
pub(crate) fn is_attr(attr: &syn::Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == name)
}

/// Where to point an error about an item: its name where it has one.
pub(crate) fn item_span(item: &Item) -> Span {
    match item {
        Item::Struct(s) => s.ident.span(),
        Item::Enum(e) => e.ident.span(),
        Item::Mod(m) => m.ident.span(),
        Item::Const(c) => c.ident.span(),
        Item::Static(s) => s.ident.span(),
        Item::Trait(t) => t.ident.span(),
        other => other.span(),
    }
}
