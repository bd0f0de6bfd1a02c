//! Which path names the runtime crate in the generated code.
//!
//! Order: an explicit `crate = path` option; otherwise the name the calling
//! crate gives `mesh` in its `Cargo.toml` (so `events = { package = "mesh" }`
//! works without the option); otherwise `::mesh`. Inside `mesh` itself
//! (its doctests and tests) `::mesh` resolves through
//! `extern crate self as mesh;`.

use proc_macro_crate::{FoundCrate, crate_name};
use quote::{format_ident, quote};

pub(crate) fn default_path() -> syn::Path {
    match crate_name("mesh") {
        Ok(FoundCrate::Name(name)) => {
            let ident = format_ident!("{}", name);
            syn::parse_quote!(::#ident)
        }
        Ok(FoundCrate::Itself) | Err(_) => syn::parse_quote!(::mesh),
    }
}

pub(crate) fn resolve(explicit: Option<syn::Path>) -> proc_macro2::TokenStream {
    let path = explicit.unwrap_or_else(default_path);
    quote!(#path)
}
