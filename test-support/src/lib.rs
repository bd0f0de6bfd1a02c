//! A second crate for mesh's integration tests: it declares event types and
//! `#[receiver]`s that the tests in the root package must see, and it
//! depends on mesh renamed to `events`, so the macros' crate resolution is
//! exercised both by default (from `Cargo.toml`) and with `crate = ...`.

/// A NATS server for the mesh-nats tests and benchmarks.
pub mod nats;

use std::sync::Mutex;

use events::prelude::*;

events::namespace!(pub SUPPORT = "support");

/// A job finished (default crate resolution: `events` from Cargo.toml).
#[signal(namespace = SUPPORT, name = "job.done")]
#[derive(Debug, Clone, PartialEq)]
pub struct JobDone {
    /// Job id.
    pub id: u32,
}

/// Same short name as an event in the tests' own namespace.
#[signal(namespace = SUPPORT, name = "status", crate = ::events)]
#[derive(Debug, Clone, PartialEq)]
pub struct Status(pub &'static str);

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What the receivers of this crate saw, in order.
pub fn log() -> Vec<String> {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn push(s: String) {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(s);
}

#[receiver(priority = 5)]
fn support_high(ev: &JobDone) {
    push(format!("support_high {}", ev.id));
}

#[receiver(name = "support-envelope", crate = ::events)]
fn support_envelope(ev: &Event<JobDone>) -> Result<(), String> {
    push(format!("support-envelope {} #{}", ev.data.id, ev.seq));
    if ev.data.id == 13 { Err(format!("job {} is unlucky", ev.data.id)) } else { Ok(()) }
}

#[receiver]
fn support_status(s: &Status) {
    push(format!("support status {}", s.0));
}

/// Runs `f` to completion on this thread: a minimal executor for the
/// tests and benchmarks of async delivery (the thread parks until the
/// future's waker unparks it). The same one everywhere, so no test
/// depends on an async runtime and every benchmark contender runs on it.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A log shared with the receivers that write to it.
pub type SharedLog = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A new [`SharedLog`] and a second handle to it (for a closure to move).
pub fn shared_log() -> (SharedLog, SharedLog) {
    let log = SharedLog::default();
    (log.clone(), log)
}

/// A global allocator that counts the bytes live (requested sizes), for
/// tests of memory bounds. A test binary installs it with
/// `#[global_allocator] static ALLOC: Counting = Counting;` and reads
/// [`Counting::live`].
pub struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

impl Counting {
    /// Bytes allocated and not freed, process-wide.
    pub fn live() -> isize {
        LIVE.load(std::sync::atomic::Ordering::Relaxed)
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// A future that is pending once (waking itself) and then ready: an
/// async receiver that awaits it really suspends, and may be resumed on
/// another thread.
pub async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
