//! Namespaces and the process-wide registry.

use std::any::TypeId;

use mesh::name::NameError;
use mesh::{Namespace, RegistryError, SignalConfig, registry};

static SYSTEM: Namespace = Namespace::new("reg-system");
static PROVIDER: Namespace = Namespace::nested(&SYSTEM, "provider");
static OTHER: Namespace = Namespace::new("reg-other.deep");
static MESH: Namespace = Namespace::new("mesh");

#[derive(Debug)]
struct Connected;
#[derive(Debug)]
struct Disconnected;

#[test]
fn nested_names_and_sharing() {
    assert_eq!(PROVIDER.name(), "reg-system.provider");
    assert_eq!(PROVIDER.parent().unwrap().name(), "reg-system");
    let a = PROVIDER.signal::<Connected>("connected").unwrap();
    let b = SYSTEM.signal::<Connected>("provider.connected").unwrap();
    assert_eq!(a.name(), "reg-system.provider.connected");
    a.connect(|_: &Connected| {});
    assert_eq!(b.receiver_count(), 1, "same name, same type: one shared signal");
}

#[test]
fn type_mismatch_names_both_types() {
    SYSTEM.signal::<Connected>("clash").unwrap();
    let err = SYSTEM.signal::<Disconnected>("clash").unwrap_err();
    match &err {
        RegistryError::TypeMismatch { name, registered, requested } => {
            assert_eq!(*name, "reg-system.clash");
            assert!(registered.ends_with("Connected"));
            assert!(requested.ends_with("Disconnected"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("registry::Connected") && text.contains("registry::Disconnected"),
        "{text}"
    );
}

#[test]
fn config_mismatch_is_an_error() {
    SYSTEM.signal::<u8>("cfg").unwrap();
    let err = SYSTEM.signal_with::<u8>("cfg", SignalConfig::new().ordered()).unwrap_err();
    assert!(matches!(err, RegistryError::ConfigMismatch { .. }), "{err:?}");
    // A type clash is reported as such even when the configuration differs too.
    let err = SYSTEM.signal_with::<String>("cfg", SignalConfig::new().ordered()).unwrap_err();
    assert!(matches!(err, RegistryError::TypeMismatch { .. }), "{err:?}");
}

#[test]
fn invalid_and_reserved_names() {
    let err = SYSTEM.signal::<u8>("Bad Name").unwrap_err();
    assert_eq!(
        err,
        RegistryError::InvalidName {
            name: "reg-system.Bad Name".into(),
            // The offset is into the full name the error shows.
            error: NameError::InvalidChar { at: 11 }
        }
    );
    assert!(matches!(SYSTEM.signal::<u8>("a.*"), Err(RegistryError::InvalidName { .. })));
    assert!(matches!(SYSTEM.signal::<u8>("a..b"), Err(RegistryError::InvalidName { .. })));
    assert!(matches!(MESH.signal::<u8>("mine"), Err(RegistryError::Reserved { .. })));
}

#[test]
fn lookup_downcast_and_listing() {
    let s = OTHER.signal::<String>("thing").unwrap();
    s.connect(|_: &String| {});
    let r = registry::lookup("reg-other.deep.thing").unwrap();
    assert_eq!(r.name(), "reg-other.deep.thing");
    assert_eq!(r.type_id(), TypeId::of::<String>());
    assert_eq!(r.type_name(), "alloc::string::String");
    assert_eq!(r.receiver_count(), 1);
    assert!(r.downcast::<u8>().is_none());
    assert_eq!(r.downcast::<String>().unwrap().emit("x".into()).delivered, 1);
    assert!(registry::lookup("reg-other.deep.nothing").is_none());
    assert_eq!(s.erased().name(), r.name());

    let ns = registry::namespaces();
    assert!(ns.contains(&"reg-other") && ns.contains(&"reg-other.deep"), "{ns:?}");
    assert!(ns.contains(&"mesh.receiver"));
    let names: Vec<_> = registry::signals().iter().map(|s| s.name()).collect();
    assert!(names.contains(&"mesh.receiver.failed"));
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert_eq!(OTHER.signals().len(), 1);
}

#[test]
fn builtin_meta_signals_are_registered() {
    for name in [mesh::meta::CONNECTED, mesh::meta::DISCONNECTED, mesh::meta::FAILED] {
        let r = registry::lookup(name).unwrap();
        assert_eq!(r.name(), name);
    }
    assert!(
        registry::lookup(mesh::meta::FAILED)
            .unwrap()
            .downcast::<mesh::meta::ReceiverFailed>()
            .is_some()
    );
}
