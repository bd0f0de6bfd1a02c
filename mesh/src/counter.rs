//! Counting emits without contending: one cache line per counting thread.
//!
//! A counting thread takes a shard index for as long as it lives (up to
//! [`SHARDS`] threads at once; an exiting thread gives its index back,
//! through a lock, so the next owner sees every count it stored), so each
//! shard has exactly one writer at a time: it counts with a plain load
//! and store, no atomic read-modify-write (which costs ~5 ns and, shared,
//! bounces the line between cores). Threads beyond them share one atomic
//! counter.
//! A reader sums the shards with `Relaxed` loads: each shard's value is
//! one its writer stored, so the sum is never more than was counted and
//! catches up as the writers' stores become visible.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Threads with a shard of their own.
const SHARDS: usize = 8;

/// An emit counter (see the module docs).
pub(crate) struct EmitCounter {
    shards: [Shard; SHARDS],
    /// Threads beyond the first [`SHARDS`].
    shared: AtomicU64,
}

/// One writer's counter, alone on its cache line.
#[repr(align(64))]
struct Shard(AtomicU64);

/// Indices never handed out yet. `Relaxed`: only hands out distinct
/// indices (reuse goes through [`FREE`]).
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Shard indices given back by threads that exited. The lock orders the
/// old owner's last stores before the new owner's first load.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// A thread's shard index, given back when the thread exits.
struct Owned(Cell<usize>);

impl Drop for Owned {
    fn drop(&mut self) {
        let index = self.0.get();
        if index < SHARDS {
            FREE.lock().unwrap_or_else(|e| e.into_inner()).push(index);
        }
    }
}

thread_local! {
    /// This thread's shard index (`usize::MAX`: none yet).
    static INDEX: Owned = const { Owned(Cell::new(usize::MAX)) };
}

/// This thread's shard index; `usize::MAX` (the shared counter) once its
/// thread-locals are gone.
fn index() -> usize {
    INDEX
        .try_with(|i| {
            let mut v = i.0.get();
            if v == usize::MAX {
                v = claim();
                i.0.set(v);
            }
            v
        })
        .unwrap_or(usize::MAX)
}

#[cold]
fn claim() -> usize {
    let reused = FREE.lock().unwrap_or_else(|e| e.into_inner()).pop();
    reused.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed))
}

impl EmitCounter {
    pub(crate) fn new() -> Self {
        EmitCounter {
            shards: std::array::from_fn(|_| Shard(AtomicU64::new(0))),
            shared: AtomicU64::new(0),
        }
    }

    /// Counts one.
    #[inline]
    pub(crate) fn add_one(&self) {
        match self.shards.get(index()) {
            // The shard's only writer is this thread (an index has one
            // owner at a time): load and store cannot lose a count. `Relaxed`: a
            // statistic; nothing is published through it.
            Some(shard) => shard.0.store(shard.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed),
            None => {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The count so far.
    pub(crate) fn total(&self) -> u64 {
        self.shards.iter().map(|s| s.0.load(Ordering::Relaxed)).sum::<u64>()
            + self.shared.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests claim shards: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn indices_are_reused_after_their_threads_exit() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let counter = std::sync::Arc::new(EmitCounter::new());
        for _ in 0..4 * SHARDS {
            let c = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    c.add_one();
                }
                assert!(index() < SHARDS, "a freed shard, not the shared counter");
            })
            .join()
            .unwrap();
        }
        assert_eq!(counter.total(), 4 * SHARDS as u64 * 1_000);
        assert_eq!(counter.shared.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn threads_beyond_the_shards_are_counted_too() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let counter = std::sync::Arc::new(EmitCounter::new());
        let threads: Vec<_> = (0..SHARDS + 4)
            .map(|_| {
                let c = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.add_one();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.total(), (SHARDS as u64 + 4) * 10_000);
    }
}
