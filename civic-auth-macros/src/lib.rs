//! The `#[civic_auth_required]` attribute of `civic-auth-poem`. It only
//! parses, checks placement and emits calls into the library; see the
//! library's documentation for how to use it.
//!
//! `lib.rs` dispatches on the item: a function to `handler`, an impl block to
//! `operations`. Both use `requirements` (the arguments) and `utils`, and
//! neither uses the other.

mod handler;
mod operations;
mod requirements;
mod utils;

use proc_macro::TokenStream;
use syn::Item;

/// Protects a Poem handler; documented (with examples) where
/// `civic_auth_poem` re-exports it.
#[proc_macro_attribute]
pub fn civic_auth_required(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand(args.into(), item.clone()) {
        Ok(expanded) => expanded.into(),
        // Keep the item as written, so the only error the user sees is ours.
        Err(error) => {
            let mut output = error.into_compile_error();
            output.extend(item);
            output.into()
        }
    }
}

fn expand(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let args = syn::parse2(args)?;
    match syn::parse2::<Item>(item)? {
        Item::Fn(item_fn) => handler::expand(item_fn, args),
        Item::Impl(item_impl) => operations::expand(item_impl, args),
        other => Err(syn::Error::new(
            utils::item_span(&other),
            "#[civic_auth_required] protects a handler: put it above #[handler] on a function, \
             or above #[OpenApi] on an impl block",
        )),
    }
}
