//! Namespaces: dotted prefixes that group named signals.
//!
//! A [`Namespace`] is a `static`, built entirely at compile time: its full
//! dotted name is stored inline, so a nested namespace knows
//! `system.provider` without any run-time work, and an invalid name fails
//! the build. Declare one with the [`namespace!`](crate::namespace!) macro
//! (which also lists it in [`registry::namespaces`])
//! or with the `const fn`s below.
//!
//! Namespaces nest by dotted prefix: `PROVIDER` declared under `SYSTEM` is
//! `system.provider`, and the signals of `PROVIDER` are also signals of
//! `SYSTEM`.
//!
//! ```
//! use mesh::Namespace;
//! static SYSTEM: Namespace = Namespace::new("system");
//! static PROVIDER: Namespace = Namespace::nested(&SYSTEM, "provider");
//!
//! let connected = PROVIDER.signal::<String>("connected").unwrap();
//! assert_eq!(connected.name(), "system.provider.connected");
//! assert_eq!(PROVIDER.name(), "system.provider");
//! assert!(SYSTEM.signals().iter().any(|s| s.name() == "system.provider.connected"));
//! ```
//!
//! An invalid name in a `static` is a compile-time error:
//!
//! ```compile_fail
//! static BAD: mesh::Namespace = mesh::Namespace::new("Not Valid");
//! ```

use std::fmt;

use crate::name::{validate_name, validate_segment};

/// Longest full namespace name, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 128;

/// A registry prefix for named signals, built at compile time.
///
/// Its full dotted name is stored inline, so a nested namespace knows
/// `system.provider` without any run-time work, and an invalid name fails
/// the build. Declare one with [`namespace!`](crate::namespace!) (which
/// also lists it in [`registry::namespaces`](crate::registry::namespaces))
/// or with the `const fn`s below. Namespaces nest by dotted prefix: the
/// signals of `system.provider` are also signals of `system`.
///
/// ```
/// use mesh::Namespace;
/// static SYSTEM: Namespace = Namespace::new("system");
/// static PROVIDER: Namespace = Namespace::nested(&SYSTEM, "provider");
///
/// let connected = PROVIDER.signal::<String>("connected").unwrap();
/// assert_eq!(connected.name(), "system.provider.connected");
/// assert_eq!(PROVIDER.name(), "system.provider");
/// assert!(SYSTEM.signals().iter().any(|s| s.name() == "system.provider.connected"));
/// ```
///
/// An invalid name in a `static` is a compile-time error:
///
/// ```compile_fail
/// static BAD: mesh::Namespace = mesh::Namespace::new("Not Valid");
/// ```
pub struct Namespace {
    /// The full dotted name, in `full[..len]`.
    full: [u8; MAX_NAMESPACE_LEN],
    len: usize,
    parent: Option<&'static Namespace>,
}

impl Namespace {
    /// A root namespace. `name` may be dotted (`"app.audio"`).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid dotted name or is longer than
    /// [`MAX_NAMESPACE_LEN`]; in a `static` or `const`, that is a
    /// compile-time error.
    pub const fn new(name: &'static str) -> Self {
        if validate_name(name).is_err() {
            panic!("invalid namespace name: use dotted segments of `a-z`, `0-9`, `_`, `-`");
        }
        let mut full = [0; MAX_NAMESPACE_LEN];
        let len = copy_into(&mut full, 0, name.as_bytes());
        Namespace { full, len, parent: None }
    }

    /// A namespace nested under `parent`: its name is
    /// `<parent>.<segment>`.
    ///
    /// # Panics
    ///
    /// If `segment` is not a valid single segment or the full name is
    /// longer than [`MAX_NAMESPACE_LEN`] (compile-time error in a `static`).
    pub const fn nested(parent: &'static Namespace, segment: &'static str) -> Self {
        if validate_segment(segment).is_err() {
            panic!("invalid namespace segment: use `a-z`, `0-9`, `_`, `-` and no `.`");
        }
        let mut full = parent.full;
        let len = copy_into(&mut full, parent.len, b".");
        let len = copy_into(&mut full, len, segment.as_bytes());
        Namespace { full, len, parent: Some(parent) }
    }

    /// The full dotted name.
    pub const fn name(&self) -> &str {
        match std::str::from_utf8(self.full.split_at(self.len).0) {
            Ok(name) => name,
            // Only validated ASCII is ever copied in.
            Err(_) => panic!("namespace names are ASCII"),
        }
    }

    /// The enclosing namespace, if nested.
    pub const fn parent(&self) -> Option<&'static Namespace> {
        self.parent
    }
}

/// Copies `src` into `dst` at `at`; returns the new length. Panics (at
/// compile time in a `static`) when the name would not fit.
const fn copy_into(dst: &mut [u8; MAX_NAMESPACE_LEN], at: usize, src: &[u8]) -> usize {
    if at + src.len() > MAX_NAMESPACE_LEN {
        panic!("namespace name longer than MAX_NAMESPACE_LEN (128 bytes)");
    }
    let mut i = 0;
    while i < src.len() {
        dst[at + i] = src[i];
        i += 1;
    }
    at + src.len()
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Namespace").field(&self.name()).finish()
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A namespace declared with `namespace!`, collected at link time (for
/// [`registry::namespaces`](crate::registry::namespaces)).
pub struct NamespaceDecl(pub &'static Namespace);

inventory::collect!(NamespaceDecl);
