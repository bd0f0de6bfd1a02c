//! Signals across processes: a bridge between [mesh]'s local
//! signals and NATS.
//!
//! A process that outgrows itself keeps its `#[signal]` types and
//! receivers: a [`Bridge`] exports local signals matching a pattern to
//! NATS subjects `<prefix>.<signal name>` and imports them back into
//! other processes, where they reach typed receivers, pattern
//! subscribers and `#[receiver]`s with their original envelope (id,
//! timestamp, source, metadata) plus the node they came from. mesh names
//! and patterns are NATS subjects and filters unchanged.
//!
//! ```no_run
//! use mesh::prelude::*;
//! use mesh_nats::{Bridge, Config};
//!
//! #[signal(name = "orders.placed")]
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
//! struct OrderPlaced { id: u64 }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bridge = Bridge::connect("nats://127.0.0.1:4222", Config::new("shop")?).await?;
//! let _out = bridge.export("orders.>")?;      // local → NATS `shop.orders.>`
//! let _in = bridge.import("orders.>").await?; // NATS → local, from other nodes
//! OrderPlaced { id: 1 }.emit();              // crosses to every importing process
//! bridge.flush().await?;
//! # Ok(()) }
//! ```
//!
//! # What crosses, and how
//!
//! The wire format is documented in `WIRE.md` (versioned, with headers
//! for the envelope and a JSON body by default, see [`wire`]), so a
//! client in another language can take part. Only payloads that are
//! `Serialize` (export) and `DeserializeOwned` (import) cross; nothing on
//! the local path needs serde.
//!
//! # Nothing lost silently
//!
//! Live mode (core NATS) is fire-and-forget: the bridge counts what it
//! knows was lost — a full export queue, a refused publish, the client's
//! slow-consumer drops, gaps in an origin's publish sequence (`Mesh-Seq`) — in [`Stats`] and
//! reports each on `mesh.nats.lost` ([`report`]). Malformed or unfit
//! messages from the wire never panic, never reach a typed receiver and
//! never stop the bridge: each is counted and reported on
//! `mesh.nats.rejected` with the subject and the reason.
//!
//! # No echo
//!
//! An imported event is never exported again, and an importer skips its
//! own node's messages: two processes bridging the same pattern both ways
//! see each event once.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod bridge;
pub mod report;
mod rfc3339;
pub mod wire;

pub use async_nats;
pub use bridge::{
    Bridge, BridgeError, Config, DEFAULT_EXPORT_BUFFER, DEFAULT_MAX_BODY, Durable, Export, Import,
    Start, Stats,
};
pub use wire::{Codec, Json, ORIGIN_KEY, ORIGIN_SEQ_KEY, WireError};
