//! The arguments of `#[civic_auth_required(...)]`: claims the user must have.
//!
//! ```text
//! #[civic_auth_required(equals("email_verified", true), includes("groups", "admins"), check(is_staff))]
//! ```

use proc_macro2::TokenStream;
use quote::quote;
use syn::{
    parse::{Parse, ParseStream},
    punctuated::Punctuated,
    spanned::Spanned,
    Expr, ExprCall, ExprLit, ExprPath, Lit, Token,
};

const USAGE: &str =
    "expected `equals(\"claim\", value)`, `includes(\"claim\", value)` or `check(function)`, \
                     for example #[civic_auth_required(includes(\"groups\", \"admins\"))]";

/// The parsed requirements, in the order written.
#[derive(Default)]
pub(crate) struct Requirements(Vec<TokenStream>);

impl Requirements {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn extend(&mut self, other: Requirements) {
        self.0.extend(other.0);
    }

    /// An expression of type `[Requirement; N]`.
    pub(crate) fn to_array(&self) -> TokenStream {
        let items = &self.0;
        quote!([#(#items),*])
    }

    /// Each requirement as an expression.
    pub(crate) fn to_array_parts(&self) -> Vec<TokenStream> {
        self.0.clone()
    }
}

impl Parse for Requirements {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let calls = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
        calls
            .iter()
            .map(requirement)
            .collect::<syn::Result<_>>()
            .map(Self)
    }
}

fn requirement(expr: &Expr) -> syn::Result<TokenStream> {
    let Expr::Call(ExprCall { func, args, .. }) = expr else {
        return Err(syn::Error::new_spanned(expr, USAGE));
    };
    let Expr::Path(ExprPath { path, .. }) = func.as_ref() else {
        return Err(syn::Error::new_spanned(func, USAGE));
    };
    let kind = path.get_ident().map(|i| i.to_string()).unwrap_or_default();
    let args: Vec<&Expr> = args.iter().collect();
    let private = quote!(::civic_auth_poem::__private::requirement);
    match (kind.as_str(), args.as_slice()) {
        ("equals" | "includes", [claim, value]) => {
            let claim = claim_name(claim)?;
            literal(value)?;
            let constructor = syn::Ident::new(&kind, path.span());
            Ok(quote!(#private::#constructor(#claim, #value)))
        }
        ("equals" | "includes", _) => Err(syn::Error::new_spanned(
            expr,
            format!("`{kind}` takes a claim name and a value, for example {kind}(\"groups\", \"admins\")"),
        )),
        ("check", [function]) => Ok(quote!(#private::check(stringify!(#function), #function))),
        ("check", _) => Err(syn::Error::new_spanned(
            expr,
            "`check` takes one function `fn(&CivicUser) -> bool`, for example check(is_staff)",
        )),
        _ => Err(syn::Error::new_spanned(func, USAGE)),
    }
}

fn claim_name(expr: &Expr) -> syn::Result<&Expr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        }) => Ok(expr),
        _ => Err(syn::Error::new_spanned(
            expr,
            "the claim name is a string, for example \"groups\"",
        )),
    }
}

fn literal(expr: &Expr) -> syn::Result<()> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(_) | Lit::Bool(_) | Lit::Int(_),
            ..
        }) => Ok(()),
        _ => Err(syn::Error::new_spanned(
            expr,
            "the claim value is a string, number or bool literal",
        )),
    }
}
