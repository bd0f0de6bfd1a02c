//! Where the drivers of `#[receiver] async fn`s run.
//!
//! An async `#[receiver]` is connected when its signal is first used, like
//! any `#[receiver]`, and its [`Driver`](super::Driver) must then run on an
//! executor. mesh has no executor of its own: the driver goes to the
//! *spawner* the program installed ([`set_spawner`], one line for any
//! executor). With the `tokio` feature and no spawner installed, it is
//! spawned on the Tokio runtime of the thread that connects it, if there
//! is one ([`spawn_on`] names a runtime explicitly). Otherwise it waits in
//! a pending list, and its queue fills under its policy, until a spawner
//! is installed (the pending drivers are spawned then) or the program
//! takes them ([`take_pending`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::sync::LockExt;

/// A driver, erased: what a spawner runs.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type Spawner = Arc<dyn Fn(Task) + Send + Sync>;

struct Spawn {
    spawner: Option<Spawner>,
    pending: Vec<Task>,
}

static SPAWN: Mutex<Spawn> = Mutex::new(Spawn { spawner: None, pending: Vec::new() });

/// Installs the function that runs the drivers of async `#[receiver]`s
/// (replacing any earlier one), and runs those waiting for one.
///
/// ```
/// // With Tokio: mesh::delivery::set_spawner(|task| { tokio::spawn(task); });
/// // With a thread per driver, for this example:
/// mesh::delivery::set_spawner(|task| {
///     std::thread::spawn(move || {
///         let mut task = task;
///         let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
///         while task.as_mut().poll(&mut cx).is_pending() {
///             std::thread::sleep(std::time::Duration::from_millis(1));
///         }
///     });
/// });
/// ```
pub fn set_spawner(spawner: impl Fn(Task) + Send + Sync + 'static) {
    let spawner: Spawner = Arc::new(spawner);
    let pending = {
        let mut spawn = SPAWN.locked();
        spawn.spawner = Some(spawner.clone());
        std::mem::take(&mut spawn.pending)
    };
    // Outside the lock: a spawner may run the task at once, and the task
    // may connect (and spawn) more receivers.
    for task in pending {
        spawner(task);
    }
}

/// Spawns the drivers of async `#[receiver]`s on `handle`'s runtime (the
/// `tokio` feature): [`set_spawner`] with `handle.spawn`.
#[cfg(feature = "tokio")]
pub fn spawn_on(handle: tokio::runtime::Handle) {
    set_spawner(move |task| {
        handle.spawn(task);
    });
}

/// The drivers waiting for a spawner, for a program that runs them
/// itself.
pub fn take_pending() -> Vec<Task> {
    std::mem::take(&mut SPAWN.locked().pending)
}

/// Runs `task` with the installed spawner, or on the current Tokio
/// runtime (feature `tokio`), or keeps it pending.
pub(crate) fn spawn(task: Task) {
    let spawner = {
        let mut spawn = SPAWN.locked();
        match &spawn.spawner {
            Some(s) => s.clone(),
            None => {
                #[cfg(feature = "tokio")]
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    drop(spawn);
                    handle.spawn(task);
                    return;
                }
                spawn.pending.push(task);
                return;
            }
        }
    };
    spawner(task);
}
