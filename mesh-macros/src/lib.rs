//! Procedural macros for [mesh](https://docs.rs/mesh): `#[signal]`,
//! `#[receiver]` and `namespace!`.
//!
//! Use them through `mesh` (`use mesh::prelude::*;`), which re-exports
//! them; the documentation with examples lives there.
//!
//! # Design
//!
//! Each macro is a pipeline of three steps, each in its own function:
//!
//! 1. **parse** the tokens into a plain description (`syn` types plus
//!    options), collecting every error rather than stopping at the first;
//! 2. **validate** that description (names, generics, argument shapes),
//!    again collecting errors, each a [`syn::Error`] spanned on the
//!    offending tokens, lowercase and without a trailing period;
//! 3. **expand** to code against the runtime's public API and its hidden
//!    `__private` module. No runtime logic lives here.
//!
//! On error the macro still emits the user's item (and, for `#[signal]`, a
//! fallback `EventType` impl) next to the errors, so a mistake shows up as
//! one error at the mistake, not as a cascade of "not an event type"
//! errors wherever the type is used.
//!
//! The macros never panic.

#![forbid(unsafe_code)]

mod attr;
mod krate;
mod names;
mod namespace;
mod receiver;
mod signal;

use proc_macro::TokenStream;

/// Turns a struct or enum into an event type; see `mesh::signal`.
#[proc_macro_attribute]
pub fn signal(args: TokenStream, item: TokenStream) -> TokenStream {
    signal::signal(args.into(), item.into()).into()
}

/// Registers a function as a global receiver; see `mesh::receiver`.
#[proc_macro_attribute]
pub fn receiver(args: TokenStream, item: TokenStream) -> TokenStream {
    receiver::receiver(args.into(), item.into()).into()
}

/// Declares one or more static namespaces; see `mesh::namespace`.
#[proc_macro]
pub fn namespace(input: TokenStream) -> TokenStream {
    namespace::namespace(input.into()).into()
}
