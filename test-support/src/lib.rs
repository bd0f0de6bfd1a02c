//! A second crate for mesh's integration tests: it declares event types and
//! `#[receiver]`s that the tests in the root package must see, and it
//! depends on mesh renamed to `events`, so the macros' crate resolution is
//! exercised both by default (from `Cargo.toml`) and with `crate = ...`.

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
