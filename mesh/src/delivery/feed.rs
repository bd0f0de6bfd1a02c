//! The receiver a queued subscriber connects: it takes the shared
//! envelope and pushes it into the subscriber's [`Channel`].

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use crate::connection::DisconnectReason;
use crate::meta;
use crate::receiver::{
    Backlog, DROPPED, Delivery, Handler, QUEUED, REJECTED, REMOVE, SKIPPED, Status,
};

use super::channel::{Channel, Closed, Pushed};

/// Pushes each event into `channel`. `ENVELOPE`: the consumer reads the
/// envelope (a stream, an envelope-taking async receiver); without it
/// a signal whose other receivers do not read it either builds a bare
/// envelope (no id, no clock).
pub(crate) struct Feed<T, const ENVELOPE: bool> {
    pub(crate) channel: Arc<Channel<T>>,
    /// For `mesh.receiver.lagged`.
    pub(crate) signal: &'static str,
    pub(crate) signal_id: u64,
    pub(crate) name: Cow<'static, str>,
}

impl<T: Send + Sync + 'static, const ENVELOPE: bool> Handler<T> for Feed<T, ENVELOPE> {
    const ENVELOPE: bool = ENVELOPE;
    const SHARED: bool = true;

    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        // `SHARED` makes every dispatch of a snapshot holding this
        // receiver carry the envelope behind its `Arc`.
        let Some(event) = d.shared else { return SKIPPED };
        let pushed = self.channel.push(event.clone());
        let status = match pushed {
            Pushed::Queued => return QUEUED,
            Pushed::QueuedAfterWait => QUEUED,
            Pushed::QueuedDroppedOldest => QUEUED | DROPPED,
            Pushed::Overflowed => DROPPED | REMOVE,
            Pushed::Dropped => DROPPED,
            Pushed::Rejected | Pushed::WouldDeadlock => REJECTED,
            Pushed::Closed => return SKIPPED | REMOVE,
        };
        self.report_lag(pushed == Pushed::WouldDeadlock, status & REMOVE != 0);
        status
    }

    fn expired(&self) -> bool {
        self.channel.closed().is_some()
    }

    fn expiry_reason(&self) -> DisconnectReason {
        match self.channel.closed() {
            Some(Closed::Overflowed) => DisconnectReason::Overflow,
            _ => DisconnectReason::Disconnected,
        }
    }

    fn backlog(&self) -> Option<&dyn Backlog> {
        Some(&*self.channel)
    }
}

impl<T: Send + Sync + 'static, const ENVELOPE: bool> Feed<T, ENVELOPE> {
    /// Reports losses on `mesh.receiver.lagged`, coalesced (see
    /// [`Channel::lag_report`]). Never for that signal's own queued
    /// receivers, so a lagging lag watcher cannot feed itself.
    fn report_lag(&self, deadlock: bool, force: bool) {
        if self.signal == meta::LAGGED {
            return;
        }
        let Some(lag) = self.channel.lag_report(force || deadlock) else { return };
        let lagged = meta::lagged();
        if !lagged.has_receivers() {
            return;
        }
        lagged.emit(meta::ReceiverLagged {
            signal: self.signal,
            signal_id: self.signal_id,
            receiver: self.name.clone(),
            dropped: lag.dropped,
            rejected: lag.rejected,
            waited: lag.waited,
            len: lag.len,
            capacity: self.channel.capacity(),
            would_deadlock: deadlock,
        });
    }
}

impl<T: Send + Sync + 'static> Backlog for Channel<T> {
    fn detached(&self) {
        self.close(Closed::Detached);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn report(&self) -> Box<dyn Any + Send> {
        Box::new(super::QueueReport { stats: self.stats(), overflow: self.overflow() })
    }
}

impl<T, const ENVELOPE: bool> Drop for Feed<T, ENVELOPE> {
    fn drop(&mut self) {
        // The last snapshot holding the receiver let go (its signal was
        // dropped, say): nothing can be added any more.
        self.channel.close(Closed::Detached);
    }
}
