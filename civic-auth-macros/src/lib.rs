//! The `#[civic_auth_required]` attribute of `civic-auth-poem`. It only
//! parses, checks placement and emits calls into the library; see the
//! library's documentation for how to use it.

mod operations;
mod required;
mod requirements;

use proc_macro::TokenStream;

/// Protects a Poem handler; documented (with examples) where
/// `civic_auth_poem` re-exports it.
#[proc_macro_attribute]
pub fn civic_auth_required(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match required::expand(args.into(), item.clone()) {
        Ok(expanded) => expanded.into(),
        // Keep the item as written, so the only error the user sees is ours.
        Err(error) => {
            let mut output = error.into_compile_error();
            output.extend(item);
            output.into()
        }
    }
}
