//! Locking that ignores poison.
//!
//! mesh's own locks guard state that no user code sees half-changed: the
//! registry, history rings, the ordered-dispatch queue, middleware edits,
//! testing scopes. No user code runs while they are held, so a poisoned
//! lock cannot guard broken state, and the poison flag is ignored. (A
//! projection's state lock is the exception: it is held around the user's
//! fold, and says so where it is taken.) These helpers spell that once
//! instead of at every call site, for `std`'s mutex and, under
//! `--cfg loom`, for loom's (see [`crate::loom`]).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `Mutex::lock`, ignoring poison.
pub(crate) trait LockExt<T> {
    /// The guard this mutex hands out.
    type Guard<'a>
    where
        Self: 'a;
    fn locked(&self) -> Self::Guard<'_>;
}

impl<T> LockExt<T> for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        T: 'a;
    fn locked(&self) -> Self::Guard<'_> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(loom)]
impl<T> LockExt<T> for loom::sync::Mutex<T> {
    type Guard<'a>
        = loom::sync::MutexGuard<'a, T>
    where
        T: 'a;
    fn locked(&self) -> Self::Guard<'_> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// [`RwLock::read`] and [`RwLock::write`], ignoring poison.
pub(crate) trait RwLockExt<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T>;
    fn write_locked(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> RwLockExt<T> for RwLock<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write_locked(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(|e| e.into_inner())
    }
}
