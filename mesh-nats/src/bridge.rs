//! The bridge: one NATS client, exports (local signals → NATS) and imports
//! (NATS → local signals), in live mode (core NATS).
//!
//! # Design
//!
//! An export is a pattern subscription on the local mesh: it runs in the
//! emit, encodes the event (headers + body) and hands it to a bounded
//! queue without waiting; one task per bridge drains the queue into the
//! client. A full queue loses the event — counted and reported on
//! `mesh.nats.lost`, never silently — so an emitter is never blocked by
//! the network. An import is a NATS subscription drained by a task that
//! decodes each message and emits it on the local signal of that name
//! with the original envelope.
//!
//! No echo: an imported event carries its origin in its metadata
//! ([`ORIGIN_KEY`]) and exports skip such events; an importer skips
//! messages its own node published. So two processes that export and
//! import the same pattern each see every event once.
//!
//! No subject injection: the prefix is a validated dotted name, exported
//! names come from the registry (valid names, no wildcards), and import
//! filters are validated patterns appended to the prefix; nothing a
//! caller passes reaches outside `<prefix>.`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectOptions, ToServerAddrs};
use futures_util::StreamExt;
use mesh::name::Pattern;
use mesh::{AnyEvent, EventType, ScopedConnection};
use tokio::sync::{mpsc, oneshot};

use crate::report::{self, ConnectionEvent, Direction, LossReason, Lost, Rejected};
use crate::wire::{self, Codec, ORIGIN_KEY, ORIGIN_SEQ_KEY, Outgoing, WireError};

/// Why the bridge could not do what was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum BridgeError {
    /// The prefix or node id is not a valid dotted name / segment.
    Name(String),
    /// The pattern is not a valid pattern.
    Pattern(mesh::name::PatternError),
    /// The pattern overlaps one already exported or imported by this
    /// bridge (each event would cross twice).
    Overlap {
        /// The new pattern.
        pattern: String,
        /// The one it overlaps.
        existing: String,
    },
    /// The client could not connect (wrong address, refused, bad
    /// credentials: the client's error says which).
    Connect(async_nats::ConnectError),
    /// The server refused a subscription.
    Subscribe(async_nats::SubscribeError),
    /// Flushing to the server failed.
    Flush(String),
    /// The bridge's publishing task has ended (the client was closed).
    Closed,
    /// JetStream refused to make or find the stream or consumer (is
    /// JetStream enabled on the server?).
    JetStream(String),
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Name(e) => write!(f, "invalid name: {e}"),
            BridgeError::Pattern(e) => write!(f, "invalid pattern: {e}"),
            BridgeError::Overlap { pattern, existing } => {
                write!(f, "pattern `{pattern}` overlaps `{existing}`, already bridged")
            }
            BridgeError::Connect(e) => write!(f, "cannot connect to NATS: {e}"),
            BridgeError::Subscribe(e) => write!(f, "cannot subscribe: {e}"),
            BridgeError::Flush(e) => write!(f, "cannot flush: {e}"),
            BridgeError::Closed => f.write_str("the bridge is closed"),
            BridgeError::JetStream(e) => write!(f, "jetstream: {e}"),
        }
    }
}

impl std::error::Error for BridgeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BridgeError::Pattern(e) => Some(e),
            BridgeError::Connect(e) => Some(e),
            BridgeError::Subscribe(e) => Some(e),
            _ => None,
        }
    }
}

impl From<mesh::name::PatternError> for BridgeError {
    fn from(e: mesh::name::PatternError) -> Self {
        BridgeError::Pattern(e)
    }
}

/// How a bridge names, bounds and encodes what it carries.
#[derive(Clone)]
pub struct Config {
    prefix: String,
    node: String,
    export_buffer: usize,
    max_body: usize,
    codec: Arc<dyn Codec>,
    stream: String,
    retry_for: Duration,
    dedup_window: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .field("export_buffer", &self.export_buffer)
            .field("max_body", &self.max_body)
            .field("codec", &self.codec.content_type())
            .field("stream", &self.stream)
            .field("retry_for", &self.retry_for)
            .field("dedup_window", &self.dedup_window)
            .finish()
    }
}

/// Default bound of the export queue, in events.
pub const DEFAULT_EXPORT_BUFFER: usize = 65_536;
/// Default largest body accepted or sent, in bytes (the NATS server's
/// default `max_payload` is 1 MiB, headers included).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

impl Config {
    /// Subjects `<prefix>.<signal name>`; a fresh node id; the default
    /// bounds; JSON bodies.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Name`] if `prefix` is not a valid dotted name.
    ///
    /// ```
    /// let config = mesh_nats::Config::new("events").unwrap();
    /// assert_eq!(config.prefix(), "events");
    /// assert!(mesh_nats::Config::new("events.>").is_err());
    /// ```
    pub fn new(prefix: &str) -> Result<Self, BridgeError> {
        mesh::name::validate_name(prefix)
            .map_err(|e| BridgeError::Name(format!("{prefix:?}: {e}")))?;
        Ok(Config {
            prefix: prefix.to_owned(),
            // A fresh event id: a UUID v7, unique across processes.
            node: mesh::Event::new(()).id.simple().to_string(),
            export_buffer: DEFAULT_EXPORT_BUFFER,
            max_body: DEFAULT_MAX_BODY,
            codec: wire::json(),
            stream: stream_name(prefix),
            retry_for: Duration::from_secs(60),
            dedup_window: 65_536,
        })
    }

    /// The JetStream stream of durable mode (default: `MESH_` and the
    /// prefix with each `.` written `D`: `MESH_shopDorders` for
    /// `shop.orders`; dotted names have no upper-case letters, so two
    /// prefixes never share a stream).
    ///
    /// # Errors
    ///
    /// [`BridgeError::Name`] unless `name` is 1 to 255 of `A-Z a-z 0-9 _ -`.
    pub fn stream(mut self, name: &str) -> Result<Self, BridgeError> {
        check_js_name("stream", name)?;
        self.stream = name.to_owned();
        Ok(self)
    }

    /// How long a durable export retries one event (with the same
    /// `Nats-Msg-Id`, so the stream stores it once: keep it within the
    /// stream's duplicate window, 2 minutes for a stream the bridge made)
    /// before reporting it lost; default 60 s. Events behind it wait in
    /// the export queue.
    pub fn retry_for(mut self, duration: Duration) -> Self {
        self.retry_for = duration;
        self
    }

    /// How many recent event ids a durable import remembers to drop
    /// redeliveries (default 65,536).
    pub fn dedup_window(mut self, ids: usize) -> Self {
        self.dedup_window = ids.max(1);
        self
    }

    /// This process's node id on the wire (`Mesh-Origin`); default: a
    /// fresh UUID v7. Any non-empty text without line breaks.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Name`] if `node` is empty or holds a line break.
    pub fn node(mut self, node: &str) -> Result<Self, BridgeError> {
        if node.is_empty() || node.contains(['\r', '\n']) {
            return Err(BridgeError::Name(format!("node id {node:?}")));
        }
        self.node = node.to_owned();
        Ok(self)
    }

    /// Bound of the export queue, in events (at least 1): what is
    /// buffered while the server is away or slower than the emitters;
    /// events beyond it are lost and reported.
    pub fn export_buffer(mut self, events: usize) -> Self {
        self.export_buffer = events.max(1);
        self
    }

    /// Largest body sent or accepted, in bytes.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The codec for bodies (default [`Json`](crate::Json)).
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The node id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// The durable mode's stream name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }
}

/// `MESH_` and `prefix` with `.` written `D` (a valid prefix has only
/// `a-z 0-9 _ -` besides dots).
fn stream_name(prefix: &str) -> String {
    format!("MESH_{}", prefix.replace('.', "D"))
}

/// A JetStream stream or consumer name: 1 to 255 of `A-Z a-z 0-9 _ -`.
fn check_js_name(what: &str, name: &str) -> Result<(), BridgeError> {
    let ok = (1..=255).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(BridgeError::Name(format!("{what} name {name:?}"))) }
}

/// Where a durable import starts reading its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every event the stream holds, then live.
    All,
    /// Only events stored after the import starts.
    New,
    /// From this stream sequence on, then live.
    Sequence(u64),
    /// From the first event stored at or after this time, then live.
    Time(std::time::SystemTime),
}

/// Options of a durable import.
#[derive(Debug, Clone)]
pub struct Durable {
    consumer: Option<String>,
    start: Start,
    max_ack_pending: i64,
}

impl Default for Durable {
    fn default() -> Self {
        Durable::new()
    }
}

impl Durable {
    /// An ephemeral consumer from the start of the stream, at most 1,024
    /// events delivered and not yet acknowledged.
    pub fn new() -> Self {
        Durable { consumer: None, start: Start::All, max_ack_pending: 1024 }
    }

    /// A named, durable consumer: the server remembers what it
    /// acknowledged, so a restarted process goes on where it stopped
    /// (`start` applies only when the consumer is first made).
    ///
    /// # Errors
    ///
    /// [`BridgeError::Name`] unless `name` is 1 to 255 of `A-Z a-z 0-9 _ -`.
    pub fn consumer(mut self, name: &str) -> Result<Self, BridgeError> {
        check_js_name("consumer", name)?;
        self.consumer = Some(name.to_owned());
        Ok(self)
    }

    /// Where to start.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Per-consumer backpressure: at most `n` events delivered to this
    /// process and not yet dispatched (each is acknowledged after its
    /// local dispatch).
    pub fn max_ack_pending(mut self, n: u32) -> Self {
        self.max_ack_pending = i64::from(n.max(1));
        self
    }
}

/// A bridge's counters (each read on its own: a snapshot of each, not of
/// all at one instant).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events handed to the client for publishing.
    pub exported: u64,
    /// Local events not sent: not serializable, too large (each reported
    /// on `mesh.nats.rejected`).
    pub export_rejected: u64,
    /// Imported events the exports skipped (never re-exported).
    pub not_reexported: u64,
    /// Messages delivered to local signals.
    pub imported: u64,
    /// Messages not delivered: malformed, unknown version, no such
    /// signal, wrong type… (each reported on `mesh.nats.rejected`).
    pub import_rejected: u64,
    /// Messages this node published that came back through an import.
    pub own_skipped: u64,
    /// Events lost because the export queue was full.
    pub lost_buffer_full: u64,
    /// Events the client refused to publish.
    pub lost_publish_failed: u64,
    /// Slow-consumer reports from the client (messages it dropped).
    pub slow_consumer: u64,
    /// Events missing from an origin's publish sequence (`Mesh-Seq`) sequence.
    pub gaps: u64,
    /// Events that arrived after a gap had counted them lost.
    pub late: u64,
    /// Times the connection was lost.
    pub disconnects: u64,
    /// Times it was (re-)established after a loss.
    pub reconnects: u64,
    /// Durable publishes retried (a lost acknowledgement, an outage).
    pub retried: u64,
    /// Durable redeliveries dropped (an event id already dispatched).
    pub duplicates: u64,
}

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    export_rejected: AtomicU64,
    not_reexported: AtomicU64,
    imported: AtomicU64,
    import_rejected: AtomicU64,
    own_skipped: AtomicU64,
    lost_buffer_full: AtomicU64,
    lost_publish_failed: AtomicU64,
    slow_consumer: AtomicU64,
    gaps: AtomicU64,
    late: AtomicU64,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
    retried: AtomicU64,
    duplicates: AtomicU64,
    /// Whether the client reported its first connect yet.
    connected_once: std::sync::atomic::AtomicBool,
}

/// Adds `n`. `Relaxed`: each counter is read on its own and publishes
/// nothing.
fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// What the publishing task is asked to do, in order.
enum Cmd {
    /// Number, encode and publish; `durable`: to the stream, retried
    /// until acknowledged.
    Publish(wire::Captured, bool),
    /// Reply once everything queued before it is flushed to the server.
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Per (origin, signal name): the next `seq` expected and the ones a gap
/// skipped (bounded), to count gaps and late arrivals.
#[derive(Default)]
struct Track {
    next: u64,
    missing: BTreeSet<u64>,
}

/// At most this many (origin, name) sequences followed at once.
const TRACKS_KEPT: usize = 16_384;

/// At most this many skipped `seq`s remembered per (origin, name).
const MISSING_KEPT: usize = 4096;

struct Inner {
    client: async_nats::Client,
    config: Config,
    counters: Arc<Counters>,
    queue: mpsc::Sender<Cmd>,
    exports: Mutex<Vec<Pattern>>,
    imports: Mutex<Vec<Pattern>>,
    tracks: Mutex<HashMap<(String, String), Track>>,
}

/// Ids one durable import dispatched, oldest first (bounded by
/// `Config::dedup_window`): each import has its own, so a new import
/// replays what an earlier one already delivered.
#[derive(Default)]
struct Seen {
    ids: std::collections::HashSet<uuid::Uuid>,
    order: std::collections::VecDeque<uuid::Uuid>,
}

/// A connection to NATS that carries local signals out and remote ones
/// in. Clone it freely (one client, one publishing task).
///
/// Needs a Tokio runtime: `connect` and `import` spawn tasks on the
/// current one.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Bridge {
    /// Connects to the server(s) at `addrs` with default client options.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Connect`] if the client cannot connect.
    pub async fn connect(addrs: impl ToServerAddrs, config: Config) -> Result<Bridge, BridgeError> {
        Bridge::connect_with(ConnectOptions::new(), addrs, config).await
    }

    /// Connects with the client's own options passed through: user and
    /// password, token, nkey, credentials file, TLS, timeouts, buffer
    /// sizes. (The bridge installs its own event callback; the events
    /// are reported on `mesh.nats.connection`.)
    ///
    /// # Errors
    ///
    /// [`BridgeError::Connect`] if the client cannot connect (a wrong
    /// token is an authorization error here).
    pub async fn connect_with(
        options: ConnectOptions,
        addrs: impl ToServerAddrs,
        config: Config,
    ) -> Result<Bridge, BridgeError> {
        let counters = Arc::new(Counters::default());
        let (node, events) = (config.node.clone(), counters.clone());
        let options = options.event_callback(move |event| {
            on_client_event(&node, &events, &event);
            std::future::ready(())
        });
        let client = options.connect(addrs).await.map_err(BridgeError::Connect)?;
        let (queue, rx) = mpsc::channel(config.export_buffer);
        tokio::spawn(publish_loop(client.clone(), rx, counters.clone(), config.clone()));
        Ok(Bridge {
            inner: Arc::new(Inner {
                client,
                config,
                counters,
                queue,
                exports: Mutex::default(),
                imports: Mutex::default(),
                tracks: Mutex::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The underlying client (to share the connection).
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// Exports every local signal whose name matches `pattern`, present
    /// and future, to `<prefix>.<name>`. Payloads must serialize (a
    /// `#[signal]` type deriving `Serialize` with mesh's `serde` feature,
    /// or a signal told with `Signal::serde_payloads`); others are
    /// reported on `mesh.nats.rejected`. Imported events are never
    /// exported again. Dropping the handle stops the export.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Pattern`] for an invalid pattern,
    /// [`BridgeError::Overlap`] if it overlaps an export of this bridge.
    pub fn export(&self, pattern: &str) -> Result<Export, BridgeError> {
        self.export_mode(pattern, false)
    }

    /// [`export`](Self::export) in durable mode: to the bridge's
    /// JetStream stream (made if absent: subjects `<prefix>.>`, file
    /// storage, a 2-minute duplicate window). Each event is published
    /// once its predecessor is acknowledged, and retried with the same
    /// `Nats-Msg-Id` until acknowledged (so the stream stores it once and
    /// keeps each publisher's order) or [`Config::retry_for`] runs out
    /// (then reported lost). Throughput is one round trip per event.
    ///
    /// # Errors
    ///
    /// As for [`export`](Self::export), and [`BridgeError::JetStream`] if
    /// the stream cannot be made.
    pub async fn export_durable(&self, pattern: &str) -> Result<Export, BridgeError> {
        self.ensure_stream().await?;
        self.export_mode(pattern, true)
    }

    fn export_mode(&self, pattern: &str, durable: bool) -> Result<Export, BridgeError> {
        let pattern = Pattern::new(pattern)?;
        claim(&self.inner.exports, &pattern)?;
        let inner = self.inner.clone();
        let connection = mesh::subscribe_pattern_with(
            pattern.as_str(),
            mesh::ConnectOptions::new().name("mesh-nats export"),
            move |ev: &AnyEvent| inner.export_one(ev, durable),
        );
        let connection = match connection {
            Ok(c) => c,
            Err(e) => {
                release(&self.inner.exports, &pattern);
                return Err(e.into());
            }
        };
        Ok(Export {
            connection: Some(connection.scoped()),
            pattern,
            bridge: Arc::downgrade(&self.inner),
        })
    }

    /// Exports the signal of event type `T` (only types that serialize
    /// both ways cross).
    ///
    /// # Errors
    ///
    /// As for [`export`](Self::export).
    pub fn export_type<T>(&self) -> Result<Export, BridgeError>
    where
        T: EventType + serde::Serialize + serde::de::DeserializeOwned,
    {
        T::with_signal(|s| s.serde_payloads());
        self.export(T::NAME)
    }

    /// Imports every event published under `<prefix>.<pattern>` by other
    /// nodes: each is emitted on the local signal of its name with its
    /// original id, timestamp, source and metadata (plus
    /// [`ORIGIN_KEY`] and [`ORIGIN_SEQ_KEY`]), reaching typed receivers,
    /// pattern subscribers and `#[receiver]`s alike. A message for a name
    /// no local signal has, or that does not fit its type, is reported on
    /// `mesh.nats.rejected`. Receivers run on a task of the runtime.
    /// Dropping the handle stops the import. When it returns, the server
    /// has the subscription: what is published afterwards reaches it. Gap
    /// counting for an origin starts at the first message seen from it.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Pattern`], [`BridgeError::Overlap`] (with another
    /// import of this bridge), [`BridgeError::Subscribe`],
    /// [`BridgeError::Flush`] if the server does not answer.
    pub async fn import(&self, pattern: &str) -> Result<Import, BridgeError> {
        let pattern = Pattern::new(pattern)?;
        claim(&self.inner.imports, &pattern)?;
        let filter = format!("{}.{}", self.inner.config.prefix, pattern.as_str());
        let subscriber = match self.inner.client.subscribe(filter).await {
            Ok(s) => s,
            Err(e) => {
                release(&self.inner.imports, &pattern);
                return Err(BridgeError::Subscribe(e));
            }
        };
        // Subscribing is not a round trip: once this returns, the server
        // has the subscription, so what is published after `import`
        // returns reaches it.
        if let Err(e) = round_trip(&self.inner.client).await {
            release(&self.inner.imports, &pattern);
            return Err(BridgeError::Flush(e));
        }
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let mut subscriber = subscriber;
            while let Some(message) = subscriber.next().await {
                inner.import_one(&message);
            }
        });
        Ok(Import { task, pattern, bridge: Arc::downgrade(&self.inner) })
    }

    /// [`import`](Self::import) in durable mode: a pull consumer on the
    /// bridge's stream, filtered to `<prefix>.<pattern>`, starting where
    /// `durable` says and then continuing live with no gap or duplicate
    /// at the seam (one consumer reads both). Each message is
    /// acknowledged after its local dispatch; redeliveries of an event id
    /// already dispatched are dropped (see [`Config::dedup_window`]).
    ///
    /// # Errors
    ///
    /// As for [`import`](Self::import), and [`BridgeError::JetStream`] if
    /// the stream or consumer cannot be made.
    pub async fn import_durable(
        &self,
        pattern: &str,
        durable: Durable,
    ) -> Result<Import, BridgeError> {
        use async_nats::jetstream::consumer::{self, DeliverPolicy, pull};
        let pattern = Pattern::new(pattern)?;
        let stream = self.ensure_stream().await?;
        let deliver_policy = match durable.start {
            Start::All => DeliverPolicy::All,
            Start::New => DeliverPolicy::New,
            Start::Sequence(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
            Start::Time(at) => {
                let nanos = match at.duration_since(std::time::UNIX_EPOCH) {
                    Ok(d) => d.as_nanos() as i128,
                    Err(e) => -(e.duration().as_nanos() as i128),
                };
                let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .map_err(|e| BridgeError::JetStream(e.to_string()))?;
                DeliverPolicy::ByStartTime { start_time }
            }
        };
        claim(&self.inner.imports, &pattern)?;
        let config = pull::Config {
            durable_name: durable.consumer.clone(),
            filter_subject: format!("{}.{}", self.inner.config.prefix, pattern.as_str()),
            deliver_policy,
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: durable.max_ack_pending,
            ..Default::default()
        };
        let made = match &durable.consumer {
            Some(name) => stream.get_or_create_consumer(name, config).await,
            None => stream.create_consumer(config).await,
        };
        let messages = match made {
            Ok(consumer) => consumer.messages().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                release(&self.inner.imports, &pattern);
                return Err(BridgeError::JetStream(e));
            }
        };
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            while let Some(next) = messages.next().await {
                // Errors (missed heartbeats while the server is away) are
                // reported by the client's events; the stream recovers.
                let Ok(message) = next else { continue };
                inner.import_checked(&message.message, &mut seen);
                // Acknowledged after dispatch (a bad message too: it would
                // fail again); a lost ack means a redelivery, which the id
                // check drops.
                let _ = message.ack().await;
            }
        });
        Ok(Import { task, pattern, bridge: Arc::downgrade(&self.inner) })
    }

    /// The bridge's stream, made if absent.
    async fn ensure_stream(&self) -> Result<async_nats::jetstream::stream::Stream, BridgeError> {
        use async_nats::jetstream::stream;
        let js = async_nats::jetstream::new(self.inner.client.clone());
        let config = stream::Config {
            name: self.inner.config.stream.clone(),
            subjects: vec![format!("{}.>", self.inner.config.prefix)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(|e| BridgeError::JetStream(e.to_string()))
    }

    /// [`import_durable`](Self::import_durable) for the signal of event
    /// type `T`, registering it first (see [`import_type`](Self::import_type)).
    ///
    /// # Errors
    ///
    /// As for [`import_durable`](Self::import_durable).
    pub async fn import_durable_type<T>(&self, durable: Durable) -> Result<Import, BridgeError>
    where
        T: EventType + serde::Serialize + serde::de::DeserializeOwned,
    {
        T::with_signal(|s| s.serde_payloads());
        self.import_durable(T::NAME, durable).await
    }

    /// Imports the signal of event type `T` (registering it first, so
    /// events reach it even before this process used it).
    ///
    /// # Errors
    ///
    /// As for [`import`](Self::import).
    pub async fn import_type<T>(&self) -> Result<Import, BridgeError>
    where
        T: EventType + serde::Serialize + serde::de::DeserializeOwned,
    {
        T::with_signal(|s| s.serde_payloads());
        self.import(T::NAME).await
    }

    /// Waits until every event exported before the call is handed to the
    /// client and the server has processed it (a round trip to the
    /// server, not only a socket write: the client's own `flush` is not
    /// one).
    ///
    /// # Errors
    ///
    /// [`BridgeError::Flush`] if the client cannot reach the server,
    /// [`BridgeError::Closed`] if the publishing task has ended.
    pub async fn flush(&self) -> Result<(), BridgeError> {
        let (tx, rx) = oneshot::channel();
        self.inner.queue.send(Cmd::Flush(tx)).await.map_err(|_| BridgeError::Closed)?;
        rx.await.map_err(|_| BridgeError::Closed)?.map_err(BridgeError::Flush)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            exported: get(&c.exported),
            export_rejected: get(&c.export_rejected),
            not_reexported: get(&c.not_reexported),
            imported: get(&c.imported),
            import_rejected: get(&c.import_rejected),
            own_skipped: get(&c.own_skipped),
            lost_buffer_full: get(&c.lost_buffer_full),
            lost_publish_failed: get(&c.lost_publish_failed),
            slow_consumer: get(&c.slow_consumer),
            gaps: get(&c.gaps),
            late: get(&c.late),
            disconnects: get(&c.disconnects),
            reconnects: get(&c.reconnects),
            retried: get(&c.retried),
            duplicates: get(&c.duplicates),
        }
    }
}

/// Records `pattern` among `list` unless it overlaps one there.
fn claim(list: &Mutex<Vec<Pattern>>, pattern: &Pattern) -> Result<(), BridgeError> {
    let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = list.iter().find(|p| p.intersects(pattern)) {
        return Err(BridgeError::Overlap {
            pattern: pattern.as_str().to_owned(),
            existing: existing.as_str().to_owned(),
        });
    }
    list.push(pattern.clone());
    Ok(())
}

fn release(list: &Mutex<Vec<Pattern>>, pattern: &Pattern) {
    list.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != pattern);
}

impl Inner {
    /// An export's receiver: runs in the emit, never waits.
    fn export_one(&self, ev: &AnyEvent<'_>, durable: bool) {
        if ev.name().starts_with("mesh.nats.") {
            // The bridge's own reports: exporting them would report the
            // failure to export them, without end.
            return;
        }
        if ev.metadata().contains_key(ORIGIN_KEY) {
            add(&self.counters.not_reexported, 1);
            return;
        }
        let c = &self.config;
        // Only what the payload's borrow requires happens here; encoding
        // is the publishing task's.
        let captured = match wire::capture(ev) {
            Ok(captured) => captured,
            Err(reason) => {
                add(&self.counters.export_rejected, 1);
                report::rejected().emit(Rejected {
                    direction: Direction::Export,
                    subject: format!("{}.{}", c.prefix, ev.name()),
                    reason,
                });
                return;
            }
        };
        // Numbered by the publishing task, in queue order: an event the
        // queue refuses, or that fails to encode, takes no number (the
        // exporter reports it), so an importer's gap means a loss after
        // the event left this bridge.
        let sent = self.queue.try_send(Cmd::Publish(captured, durable));
        match sent {
            Ok(()) => {}
            Err(e) => {
                let (reason, counter) = match e {
                    mpsc::error::TrySendError::Full(_) => {
                        (LossReason::BufferFull, &self.counters.lost_buffer_full)
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        (LossReason::PublishFailed, &self.counters.lost_publish_failed)
                    }
                };
                add(counter, 1);
                report::lost().emit(Lost {
                    reason,
                    subject: format!("{}.{}", c.prefix, ev.name()),
                    count: 1,
                });
            }
        }
    }

    /// A durable import's step: [`import_one`](Self::import_one) unless
    /// the event id was dispatched already.
    fn import_checked(&self, message: &async_nats::Message, seen: &mut Seen) {
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(wire::header(wire::MSG_ID)))
            .and_then(|v| uuid::Uuid::try_parse(v.as_str()).ok());
        if let Some(id) = id {
            if !seen.ids.insert(id) {
                add(&self.counters.duplicates, 1);
                return;
            }
            seen.order.push_back(id);
            if seen.order.len() > self.config.dedup_window {
                if let Some(old) = seen.order.pop_front() {
                    seen.ids.remove(&old);
                }
            }
        }
        self.import_one(message);
    }

    /// An import's step: one message from the wire.
    fn import_one(&self, message: &async_nats::Message) {
        let c = &self.config;
        let subject = message.subject.as_str();
        let reject = |reason: WireError| {
            add(&self.counters.import_rejected, 1);
            report::rejected().emit(Rejected {
                direction: Direction::Import,
                subject: subject.to_owned(),
                reason,
            });
        };
        let incoming = match wire::decode(
            subject,
            message.headers.as_ref(),
            &message.payload,
            &c.prefix,
            &*c.codec,
            c.max_body,
        ) {
            Ok(incoming) => incoming,
            Err(reason) => return reject(reason),
        };
        if incoming.origin == c.node {
            add(&self.counters.own_skipped, 1);
            return;
        }
        self.track(&incoming.origin, &incoming.name, incoming.seq, subject);
        let Some(signal) = mesh::registry::lookup(&incoming.name) else {
            return reject(WireError::NoSignal);
        };
        let mut event = incoming.event;
        event.metadata.insert(ORIGIN_KEY, incoming.origin);
        event.metadata.insert(ORIGIN_SEQ_KEY, incoming.seq.to_string());
        match signal.emit_json_event(event) {
            Some(Ok(_)) => add(&self.counters.imported, 1),
            None => reject(WireError::NotDeserializable { payload_type: signal.type_name() }),
            Some(Err(e)) => reject(WireError::WrongType {
                payload_type: signal.type_name(),
                error: e.to_string(),
            }),
        }
    }

    /// Counts gaps and late arrivals in an origin's publish sequence (`Mesh-Seq`) sequence.
    fn track(&self, origin: &str, name: &str, seq: u64, subject: &str) {
        let mut lost = 0;
        {
            let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
            let key = (origin.to_owned(), name.to_owned());
            if tracks.len() >= TRACKS_KEPT && !tracks.contains_key(&key) {
                // Bounded against origins that come and go (or a hostile
                // publisher): counting starts over for all of them.
                tracks.clear();
            }
            let track = tracks.entry(key).or_default();
            if track.next == 0 || seq == track.next {
                track.next = seq.saturating_add(1);
            } else if seq > track.next {
                lost = seq - track.next;
                for missing in track.next..seq {
                    if track.missing.len() >= MISSING_KEPT {
                        break;
                    }
                    track.missing.insert(missing);
                }
                track.next = seq.saturating_add(1);
            } else if track.missing.remove(&seq) {
                add(&self.counters.late, 1);
            } else {
                // Behind and not missed: the origin started over (same
                // node id, new process): follow it.
                track.next = seq.saturating_add(1);
                track.missing.clear();
            }
        }
        if lost > 0 {
            add(&self.counters.gaps, lost);
            report::lost().emit(Lost {
                reason: LossReason::Gap,
                subject: subject.to_owned(),
                count: lost,
            });
        }
    }
}

/// The client's connection events, counted and reported.
fn on_client_event(node: &str, counters: &Counters, event: &async_nats::Event) {
    match event {
        async_nats::Event::Disconnected => add(&counters.disconnects, 1),
        // The first connect is reported too: only later ones count.
        async_nats::Event::Connected if counters.connected_once.swap(true, Ordering::Relaxed) => {
            add(&counters.reconnects, 1)
        }
        async_nats::Event::SlowConsumer(sid) => {
            add(&counters.slow_consumer, 1);
            report::lost().emit(Lost {
                reason: LossReason::SlowConsumer,
                subject: format!("subscription {sid}"),
                count: 1,
            });
        }
        _ => {}
    }
    report::connection().emit(ConnectionEvent { node: node.to_owned(), event: event.to_string() });
}

/// Drains the export queue into the client, in order.
async fn publish_loop(
    client: async_nats::Client,
    mut rx: mpsc::Receiver<Cmd>,
    counters: Arc<Counters>,
    config: Config,
) {
    let retry_for = config.retry_for;
    // The publish sequence of each subject (see `wire::SEQ`).
    let mut seqs: HashMap<&'static str, u64> = HashMap::new();
    let mut js = async_nats::jetstream::new(client.clone());
    // An acknowledgement not back in 2 s is retried (same id: stored once).
    js.set_timeout(Duration::from_secs(2));
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Cmd::Publish(captured, durable) => {
                let c = &config;
                let seq = seqs.get(captured.name()).copied().unwrap_or(0) + 1;
                let out = match captured.encode(&c.prefix, &c.node, seq, &*c.codec, c.max_body) {
                    Ok(out) => {
                        seqs.insert(captured.name(), seq);
                        out
                    }
                    Err(reason) => {
                        add(&counters.export_rejected, 1);
                        report::rejected().emit(Rejected {
                            direction: Direction::Export,
                            subject: format!("{}.{}", c.prefix, captured.name()),
                            reason,
                        });
                        continue;
                    }
                };
                let subject = out.subject.clone();
                let sent = if durable {
                    publish_durable(&js, out, retry_for, &counters).await
                } else {
                    client
                        .publish_with_headers(out.subject, out.headers, out.body)
                        .await
                        .map_err(|e| e.to_string())
                };
                match sent {
                    Ok(()) => add(&counters.exported, 1),
                    Err(_) => {
                        add(&counters.lost_publish_failed, 1);
                        report::lost().emit(Lost {
                            reason: LossReason::PublishFailed,
                            subject,
                            count: 1,
                        });
                    }
                }
            }
            Cmd::Flush(reply) => {
                let _ = reply.send(round_trip(&client).await);
            }
        }
    }
}

/// Publishes one event to the stream, retrying with the same message id
/// until it is acknowledged or `retry_for` has passed.
async fn publish_durable(
    js: &async_nats::jetstream::Context,
    out: Outgoing,
    retry_for: Duration,
    counters: &Counters,
) -> Result<(), String> {
    let give_up = tokio::time::Instant::now() + retry_for;
    let mut pause = Duration::from_millis(10);
    loop {
        let attempt = async {
            let ack = js
                .publish_with_headers(out.subject.clone(), out.headers.clone(), out.body.clone())
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map(|_| ()).map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= give_up => return Err(e),
            Err(_) => {
                add(&counters.retried, 1);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Flushes the client and waits until the server has processed what was
/// written before: the client's `flush` only writes to the socket, so a
/// message to an inbox of the bridge's own follows, and the wait is for
/// the server to deliver it back. (Not a request: a subscriber to `>`
/// elsewhere would stop "no responders" from coming back.) Needs the
/// client's echo, on by default.
async fn round_trip(client: &async_nats::Client) -> Result<(), String> {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.map_err(|e| e.to_string())?;
    client.publish(inbox, bytes::Bytes::new()).await.map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the connection closed".to_owned()),
        Err(_) => Err("no answer from the server in 10 s (is the client's echo off?)".to_owned()),
    }
}

/// An export; dropping it stops it.
#[derive(Debug)]
pub struct Export {
    connection: Option<ScopedConnection>,
    pattern: Pattern,
    bridge: std::sync::Weak<Inner>,
}

impl Export {
    /// The exported pattern.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        drop(self.connection.take());
        if let Some(inner) = self.bridge.upgrade() {
            release(&inner.exports, &self.pattern);
        }
    }
}

/// An import; dropping it stops it (unsubscribing).
#[derive(Debug)]
pub struct Import {
    task: tokio::task::JoinHandle<()>,
    pattern: Pattern,
    bridge: std::sync::Weak<Inner>,
}

impl Import {
    /// The imported pattern (without the prefix).
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }
}

impl Drop for Import {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(inner) = self.bridge.upgrade() {
            release(&inner.imports, &self.pattern);
        }
    }
}
