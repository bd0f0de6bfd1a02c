//! `#[receiver]`: parse → validate → expand.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, ReturnType, Type};

use crate::attr::{Errors, parse_options};
use crate::krate;
use crate::names::validate_pattern;

const OPTIONS: &[&str] = &["priority", "source", "name", "pattern", "queue", "overflow", "crate"];

/// The `overflow = ...` policies, and the `Overflow` each names.
const POLICIES: &[&str] = &["drop_oldest", "drop_newest", "reject", "block", "disconnect"];

struct Args {
    priority: i32,
    source: Option<LitStr>,
    name: Option<LitStr>,
    /// `pattern = "..."`, checked.
    pattern: Option<LitStr>,
    /// Whether `pattern` was given (valid or not).
    pattern_given: bool,
    /// `queue = N` and its span.
    queue: Option<(usize, Span)>,
    /// `overflow = policy` and its span.
    overflow: Option<(String, Span)>,
    krate: Option<syn::Path>,
}

/// The validated description of one receiver.
struct Spec<'a> {
    func: &'a ItemFn,
    /// The referent of the argument: `T` or `Event<T>`.
    arg: &'a Type,
}

pub(crate) fn receiver(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_args(args, &mut errors);
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            errors.at(
                Span::call_site(),
                "#[receiver] applies to a free function taking `&T` or `&Event<T>`",
            );
            let errs = errors.to_compile_errors();
            return quote!(#item #errs);
        }
    };
    let spec = validate(&func, &mut errors);
    if func.sig.asyncness.is_none() {
        for (what, span) in
            [("queue", args.queue.map(|q| q.1)), ("overflow", args.overflow.as_ref().map(|o| o.1))]
        {
            if let Some(span) = span {
                errors.at(
                    span,
                    format!("`{what}` applies to `async fn` receivers: a synchronous receiver runs in the emit"),
                );
            }
        }
    }
    // (An invalid pattern was reported at the pattern.)
    if let (Some(spec), false) = (&spec, args.pattern_given) {
        if is_any_event(spec.arg) {
            errors.at(
                spec.arg.span(),
                "a receiver taking `&AnyEvent` hears several signals: name them with \
                 `pattern = \"...\"`",
            );
        }
    }
    if let (Some(pattern), Some(asyncness)) = (&args.pattern, &func.sig.asyncness) {
        errors.at(
            asyncness.span(),
            format!(
                "a pattern receiver runs in the emit and cannot be `async` (pattern `{}`)",
                pattern.value()
            ),
        );
    }
    let errs = errors.to_compile_errors();
    match spec {
        Some(spec) if errors.is_empty() => {
            let expanded = match &args.pattern {
                Some(pattern) => expand_pattern(&spec, &args, pattern),
                None => expand(&spec, &args),
            };
            quote!(#func #expanded)
        }
        _ => quote!(#func #errs),
    }
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
    let mut out = Args {
        priority: 0,
        source: None,
        name: None,
        pattern: None,
        pattern_given: false,
        queue: None,
        overflow: None,
        krate: None,
    };
    for opt in parse_options(args, OPTIONS, "#[receiver]", errors) {
        match opt.key.as_str() {
            "priority" => out.priority = opt.int::<i32>(errors, "i32").unwrap_or(0),
            "source" => out.source = opt.string(errors),
            "name" => out.name = opt.string(errors),
            "pattern" => {
                out.pattern_given = true;
                if let Some(p) = opt.string(errors) {
                    match validate_pattern(&p.value()) {
                        Ok(()) => out.pattern = Some(p),
                        Err(e) => errors.at(p.span(), format!("invalid pattern: {e}")),
                    }
                }
            }
            "queue" => match opt.int::<usize>(errors, "usize") {
                Some(0) => errors.at(opt.value_span(), "`queue` must be at least 1"),
                Some(n) => out.queue = Some((n, opt.value_span())),
                None => {}
            },
            "overflow" => {
                let policy = opt.path(errors);
                match policy.as_ref().and_then(|p| p.get_ident()) {
                    Some(id) if POLICIES.contains(&id.to_string().as_str()) => {
                        out.overflow = Some((id.to_string(), opt.value_span()));
                    }
                    _ if policy.is_some() => errors.at(
                        opt.value_span(),
                        format!(
                            "unknown overflow policy `{}`; expected one of: {}",
                            policy.as_ref().map(|p| quote!(#p).to_string()).unwrap_or_default(),
                            POLICIES
                                .iter()
                                .map(|p| format!("`{p}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    _ => {}
                }
            }
            "crate" => out.krate = opt.path(errors),
            _ => {}
        }
    }
    if let Some(s) = &out.source {
        if s.value().is_empty() {
            errors.at(s.span(), "`source` must not be empty");
        }
    }
    if let Some(n) = &out.name {
        if n.value().is_empty() {
            errors.at(n.span(), "`name` must not be empty");
        }
    }
    out
}

fn validate<'a>(func: &'a ItemFn, errors: &mut Errors) -> Option<Spec<'a>> {
    let sig = &func.sig;
    let before = errors.is_empty();
    if let Some(u) = &sig.unsafety {
        errors.at(u.span(), "a receiver cannot be `unsafe`: it is called like any safe function");
    }
    if let Some(abi) = &sig.abi {
        errors.at(abi.span(), "a receiver cannot declare an `extern` ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.at(
            sig.generics.span(),
            "a receiver cannot be generic: its argument type decides which signal it receives",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.at(v.span(), "a receiver cannot be variadic");
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if !returns_unit_or_result(ty) {
            errors.at(
                ty.span(),
                "a receiver returns `()`, `Result<(), E>` where `E: Display`, or `Effects`",
            );
        }
    }
    let mut arg = None;
    match sig.inputs.len() {
        1 => match &sig.inputs[0] {
            FnArg::Receiver(r) => errors.at(
                r.span(),
                "a receiver cannot take `self`: use a free function, or connect a method with \
                 `Signal::connect_weak`",
            ),
            FnArg::Typed(pat) => match &*pat.ty {
                Type::Reference(r) if r.mutability.is_none() => arg = Some(&*r.elem),
                Type::Reference(r) => errors.at(
                    r.span(),
                    "a receiver takes a shared reference: `&T` or `&Event<T>`, not `&mut`",
                ),
                other => errors.at(
                    other.span(),
                    "a receiver takes its event by reference: `&T` or `&Event<T>`",
                ),
            },
        },
        0 => errors.at(
            sig.paren_token.span.join(),
            "a receiver takes exactly one argument, `&T` or `&Event<T>`, and this one takes none",
        ),
        n => errors.at(
            sig.inputs.span(),
            format!("a receiver takes exactly one argument, `&T` or `&Event<T>`, not {n}"),
        ),
    }
    if before && !errors.is_empty() {
        return None;
    }
    arg.map(|arg| Spec { func, arg })
}

/// `()`, or a path whose last segment is `Result` (aliases such as
/// `io::Result<()>` included) or `Effects`; the type checker does the
/// rest.
fn returns_unit_or_result(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Path(p) => {
            p.path.segments.last().is_some_and(|s| s.ident == "Result" || s.ident == "Effects")
        }
        Type::Paren(p) => returns_unit_or_result(&p.elem),
        _ => false,
    }
}

/// `Effects` or `Result<Effects, E>` (by the last path segment).
fn returns_effects(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else { return false };
    if last.ident == "Effects" {
        return true;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(a) if last.ident == "Result" => {
            matches!(a.args.first(), Some(syn::GenericArgument::Type(t)) if returns_effects(t))
        }
        _ => false,
    }
}

/// `X` when the argument is written `Event<X>` (any path ending in
/// `Event`); the payload is then named directly, so an `X` that is not an
/// event type is reported as such. Other spellings (aliases) go through
/// the `ReceiverArg` trait.
fn envelope_payload(arg: &Type) -> Option<&Type> {
    let Type::Path(p) = arg else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Event" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(a) if a.args.len() == 1 => match &a.args[0] {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// The local function through which a receiver's result is converted:
/// a wrong return type (an error that is not `Display`) is reported on
/// the return type, by its bound.
fn result_helper(krate: &TokenStream) -> TokenStream {
    quote! {
        #[inline(always)]
        fn __mesh_result<R: #krate::ReceiverResult>(
            result: R,
        ) -> ::core::result::Result<(), #krate::__private::Failure> {
            #krate::__private::failure(result)
        }
    }
}

/// Whether the argument is written `AnyEvent` (any path ending in it).
fn is_any_event(arg: &Type) -> bool {
    matches!(arg, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "AnyEvent"))
}

/// The `name` and `source` options as expressions.
fn name_and_source(ident: &syn::Ident, args: &Args) -> (TokenStream, TokenStream) {
    let name = match &args.name {
        Some(n) => quote!(#n),
        None => {
            let fn_name = ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    let source = match &args.source {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    (name, source)
}

/// `#[receiver(pattern = "..")]`: a `StaticPattern` the registry lists
/// when it starts. The argument `&AnyEvent` hears every matching signal;
/// `&T` or `&Event<T>` the matching signals whose payload is `T` (any
/// `Send + Sync + 'static` type: runtime signals need no `#[signal]`).
fn expand_pattern(spec: &Spec<'_>, args: &Args, pattern: &LitStr) -> TokenStream {
    let krate = krate::resolve(args.krate.clone());
    let result_helper = result_helper(&krate);
    let ident = &spec.func.sig.ident;
    let arg = spec.arg;
    let priority = args.priority;
    let (name, source) = name_and_source(ident, args);
    let (ret_ty, ret_span) = match &spec.func.sig.output {
        ReturnType::Type(_, ty) => (quote!(#ty), ty.span()),
        ReturnType::Default => (quote!(()), ident.span()),
    };
    let result = quote_spanned!(ret_span=> __mesh_result::<#ret_ty>);
    let effects = matches!(&spec.func.sig.output, ReturnType::Type(_, ty) if returns_effects(ty));
    let make = if is_any_event(arg) && effects {
        // Effects are performed with the causing event: the result is kept.
        quote! {
            #krate::__private::any_pattern(|ev: &#arg| #ident(ev))
        }
    } else if is_any_event(arg) {
        quote! {
            #krate::__private::any_pattern(|ev: &#arg| #result(#ident(ev)))
        }
    } else {
        let span = arg.span();
        let payload = match envelope_payload(arg) {
            Some(inner) => quote_spanned!(span=> #inner),
            None => quote_spanned!(span=> #arg),
        };
        let receiver = match &spec.func.sig.output {
            ReturnType::Default => quote!((|arg: &#arg| #ident(arg)) as fn(&#arg)),
            ReturnType::Type(_, ty) if effects => {
                quote!((|arg: &#arg| #ident(arg)) as fn(&#arg) -> #ty)
            }
            ReturnType::Type(..) => quote! {
                (|arg: &#arg| #result(#ident(arg)))
                    as fn(&#arg) -> ::core::result::Result<(), #krate::__private::Failure>
            },
        };
        quote! {
            #krate::__private::typed_pattern::<#payload, _, _>(#receiver)
        }
    };
    quote! {
        #[doc(hidden)]
        const _: () = {
            fn __mesh_pattern() -> #krate::__private::PatternReceiver {
                #make
            }
            #result_helper
            #krate::__private::inventory::submit! {
                #krate::__private::StaticPattern {
                    pattern: #pattern,
                    name: #name,
                    priority: #priority,
                    source: #source,
                    receiver: __mesh_pattern,
                }
            }
        };
    }
}

fn expand(spec: &Spec<'_>, args: &Args) -> TokenStream {
    let krate = krate::resolve(args.krate.clone());
    let result_helper = result_helper(&krate);
    let ident = &spec.func.sig.ident;
    let arg = spec.arg;
    let priority = args.priority;
    let (name, source) = name_and_source(ident, args);
    // Every use of the payload type is spanned on the argument's type, so
    // "not an event type" points there (and duplicates collapse into one).
    let span = arg.span();
    let payload = match envelope_payload(arg) {
        Some(inner) => quote_spanned!(span=> #inner),
        None => quote_spanned!(span=> <#arg as #krate::__private::ReceiverArg>::Payload),
    };
    // A local function, so the "required by a bound" note points at the
    // `#[receiver]`, not into mesh's private support module.
    let event_id = quote_spanned!(span=> __mesh_event_id::<__MeshPayload>);
    // The function is connected through a closure that converts its
    // result with a local generic function bounded on `ReceiverResult`:
    // a wrong return type (an error that is not `Display`) is reported on
    // the return type, by that bound, and nothing else fails.
    let (ret_ty, ret_span) = match &spec.func.sig.output {
        ReturnType::Type(_, ty) => (quote!(#ty), ty.span()),
        ReturnType::Default => (quote!(()), ident.span()),
    };
    let payload_at_arg = quote_spanned!(span=> __MeshPayload);
    let result = quote_spanned!(ret_span=> __mesh_result::<#ret_ty>);
    // The closure captures nothing: cast to a plain function pointer, the
    // receiver's type is the same for every `#[receiver]` of the event
    // type (and argument shape), so the connect path and the receiver's
    // slot are compiled once per event type, not once per receiver
    // function (issue 14). The cost: one indirect call per delivery.
    // A function without a return type is connected as `fn(&Arg)`: no
    // result to pass back and test on every delivery.
    let receiver = match &spec.func.sig.output {
        ReturnType::Default => quote!((|arg: &#arg| #ident(arg)) as fn(&#arg)),
        // Effects are performed with the causing envelope: the function
        // is connected as it is, its result kept.
        ReturnType::Type(_, ty) if returns_effects(ty) => {
            quote!((|arg: &#arg| #ident(arg)) as fn(&#arg) -> #ty)
        }
        ReturnType::Type(..) => quote! {
            (|arg: &#arg| #result(#ident(arg)))
                as fn(&#arg) -> ::core::result::Result<(), #krate::__private::Failure>
        },
    };
    let connect = match spec.func.sig.asyncness {
        None => quote! {
            #krate::__private::connect_static::<#payload_at_arg, _, _>(signal, options, #receiver)
        },
        // An async receiver gets the shared envelope and owns it while its
        // future runs; its argument is borrowed from it.
        Some(_) => {
            let call = quote! {
                #ident(<#arg as #krate::__private::ReceiverArg>::from_event(&ev)).await
            };
            // Effects are kept for the driver, which performs them with
            // the event as their cause.
            let awaited = match &spec.func.sig.output {
                ReturnType::Type(_, ty) if returns_effects(ty) => call,
                _ => quote!(#result(#call)),
            };
            let capacity = args.queue.map_or(1024, |q| q.0);
            let overflow = match args.overflow.as_ref().map(|o| o.0.as_str()) {
                None | Some("drop_oldest") => quote!(DropOldest),
                Some("drop_newest") => quote!(DropNewest),
                Some("reject") => quote!(Reject),
                Some("disconnect") => quote!(Disconnect),
                Some(_) => quote!(Block { timeout: ::core::option::Option::None }),
            };
            quote! {
                #krate::__private::connect_static_async::<#payload_at_arg, #arg, _, _, _>(
                    signal,
                    options,
                    #krate::__private::AsyncQueue {
                        capacity: #capacity,
                        overflow: #krate::delivery::Overflow::#overflow,
                    },
                    |ev: ::std::sync::Arc<#krate::Event<#payload_at_arg>>| async move {
                        #awaited
                    },
                )
            }
        }
    };
    quote! {
        #[doc(hidden)]
        const _: () = {
            type __MeshPayload = #payload;
            fn __mesh_connect(
                signal: &dyn ::core::any::Any,
                options: #krate::ConnectOptions,
            ) -> #krate::__private::Connected {
                #connect
            }
            fn __mesh_event_id<P: #krate::EventType>() -> ::core::any::TypeId {
                ::core::any::TypeId::of::<P>()
            }
            #result_helper
            #krate::__private::inventory::submit! {
                #krate::__private::StaticReceiver {
                    event: #event_id,
                    name: #name,
                    priority: #priority,
                    source: #source,
                    connect: __mesh_connect,
                }
            }
        };
    }
}
