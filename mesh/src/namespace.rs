//! Namespaces: dotted prefixes that group named signals.
//!
//! A [`Namespace`] is a `static` value, built by a `const fn` (or, later, by
//! the `namespace!` macro), so declaring one costs nothing at run time and
//! an invalid name fails the build. Namespaces nest by dotted prefix:
//! `PROVIDER` declared under `SYSTEM` is `system.provider`, and the signals
//! of `PROVIDER` are also signals of `SYSTEM`.
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
use std::sync::OnceLock;

use crate::name::{join, validate_name, validate_segment};
use crate::registry::{self, NamedSignal, RegistryError, SignalRef};
use crate::signal::SignalConfig;

/// A registry prefix for named signals; see the [module docs](self).
pub struct Namespace {
    segment: &'static str,
    parent: Option<&'static Namespace>,
    /// Full dotted name, computed (and leaked, once per namespace) on
    /// first use.
    full: OnceLock<&'static str>,
}

impl Namespace {
    /// A root namespace. `name` may be dotted (`"app.audio"`).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid dotted name; in a `static` or `const`, that
    /// is a compile-time error.
    pub const fn new(name: &'static str) -> Self {
        if validate_name(name).is_err() {
            panic!("invalid namespace name: use dotted segments of `a-z`, `0-9`, `_`, `-`");
        }
        Namespace { segment: name, parent: None, full: OnceLock::new() }
    }

    /// A namespace nested under `parent`: its name is
    /// `<parent>.<segment>`.
    ///
    /// # Panics
    ///
    /// If `segment` is not a valid single segment (compile-time error in a
    /// `static`).
    pub const fn nested(parent: &'static Namespace, segment: &'static str) -> Self {
        if validate_segment(segment).is_err() {
            panic!("invalid namespace segment: use `a-z`, `0-9`, `_`, `-` and no `.`");
        }
        Namespace { segment, parent: Some(parent), full: OnceLock::new() }
    }

    /// The full dotted name.
    pub fn name(&'static self) -> &'static str {
        self.full.get_or_init(|| match self.parent {
            None => self.segment,
            Some(p) => Box::leak(join(p.name(), self.segment).into_boxed_str()),
        })
    }

    /// The enclosing namespace, if nested.
    pub fn parent(&'static self) -> Option<&'static Namespace> {
        self.parent
    }

    /// The named signal `<namespace>.<name>` carrying `T`, created and
    /// registered on first request; later requests for the same name and
    /// type share it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for an invalid `name`,
    /// [`RegistryError::TypeMismatch`] if the name is taken by another
    /// payload type, [`RegistryError::Reserved`] in the `mesh` namespace.
    pub fn signal<T: Send + Sync + 'static>(
        &'static self,
        name: &str,
    ) -> Result<NamedSignal<T>, RegistryError> {
        self.signal_with(name, SignalConfig::new())
    }

    /// [`signal`](Self::signal) with a configuration; a second request with
    /// a different configuration is a [`RegistryError::ConfigMismatch`].
    pub fn signal_with<T: Send + Sync + 'static>(
        &'static self,
        name: &str,
        config: SignalConfig,
    ) -> Result<NamedSignal<T>, RegistryError> {
        validate_name(name)
            .map_err(|error| RegistryError::InvalidName { name: join(self.name(), name), error })?;
        registry::register(&join(self.name(), name), config)
    }

    /// The registered signals in this namespace and those nested in it,
    /// sorted by name.
    pub fn signals(&'static self) -> Vec<SignalRef> {
        registry::signals_under(self.name())
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.full.get() {
            Some(full) => f.debug_tuple("Namespace").field(full).finish(),
            None => f
                .debug_struct("Namespace")
                .field("segment", &self.segment)
                .field("parent", &self.parent)
                .finish(),
        }
    }
}
