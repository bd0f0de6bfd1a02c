//! The synchronisation primitives the concurrency-critical code uses, from
//! `std` normally and from [loom](https://docs.rs/loom) under
//! `RUSTFLAGS="--cfg loom"`, so the same code runs in the loom models (as
//! tokio's `crate::loom` does).
//!
//! Only state that is part of a modelled protocol goes through here: the
//! subscriber snapshot's writer lock, `len` and `version`; a signal's
//! mute count, flags and `seq`; the ordered-dispatch turn and queue; the
//! history lock; a replaying receiver's catch-up state. Process-wide
//! statics (which loom types cannot initialise in a `const`) stay on
//! `std`; the models leave them untouched or set them up first.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize},
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize},
};
