//! The wire format, version 1 (documented for other languages in
//! `WIRE.md`): one NATS message per event, subject `<prefix>.<name>`,
//! the envelope in headers, the payload in the body.
//!
//! Encoding and decoding are pure functions of the message parts, so the
//! decoder is tested on arbitrary bytes and headers without a server.
//! Decoding never panics: every way a message can be wrong is a
//! [`WireError`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_nats::HeaderMap;
use bytes::Bytes;
use mesh::{AnyEvent, Event, Metadata};
use uuid::Uuid;

use crate::rfc3339;

/// The wire version this crate writes and reads.
pub const WIRE_VERSION: &str = "1";

/// Header: the event id (UUID, hyphenated); JetStream deduplicates on it.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Header: the wire version ([`WIRE_VERSION`]).
pub const VERSION: &str = "Mesh-Wire";
/// Header: the node that first published the event.
pub const ORIGIN: &str = "Mesh-Origin";
/// Header: the origin's publish sequence for the subject: 1, 2, 3, …
/// per (origin, subject), assigned by the origin's publishing task as it
/// sends, so a jump means messages lost after they left the origin.
pub const SEQ: &str = "Mesh-Seq";
/// Header: when the event was created, RFC 3339.
pub const TIMESTAMP: &str = "Mesh-Timestamp";
/// Header (optional): the event's source.
pub const SOURCE: &str = "Mesh-Source";
/// Header (optional, informative): the payload's type at the origin.
pub const TYPE: &str = "Mesh-Type";
/// Header (optional): the metadata, a JSON object of strings.
pub const METADATA: &str = "Mesh-Metadata";
/// Header (optional): the body's encoding (the codec's content type).
pub const CONTENT_TYPE: &str = "Content-Type";

/// Metadata key an imported event carries: the node it came from. An
/// event with it is never exported again (no echo loops).
pub const ORIGIN_KEY: &str = "mesh.origin";
/// Metadata key an imported event carries: its publish sequence at the
/// origin ([`SEQ`]).
pub const ORIGIN_SEQ_KEY: &str = "mesh.origin-seq";

/// How payloads become message bodies and back. The bridge speaks JSON
/// ([`Json`]) unless told otherwise; a codec sees the payload as a
/// `serde_json::Value`, so any self-describing format fits.
pub trait Codec: Send + Sync + 'static {
    /// The `Content-Type` header this codec writes and accepts.
    fn content_type(&self) -> &str;
    /// The body for `value`.
    fn encode(&self, value: &serde_json::Value) -> Result<Vec<u8>, String>;
    /// The value in `body`.
    fn decode(&self, body: &[u8]) -> Result<serde_json::Value, String>;
}

/// JSON bodies (`application/json`), the default codec.
#[derive(Debug, Default, Clone, Copy)]
pub struct Json;

impl Codec for Json {
    fn content_type(&self) -> &str {
        "application/json"
    }
    fn encode(&self, value: &serde_json::Value) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }
    fn decode(&self, body: &[u8]) -> Result<serde_json::Value, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

/// Why a message was not accepted (from the wire), or an event could not
/// be sent (to it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// A required header is absent.
    MissingHeader(&'static str),
    /// A header's value is not what it must be.
    BadHeader {
        /// The header.
        header: &'static str,
        /// Its value (cut to 64 bytes).
        value: String,
    },
    /// The message was written by a wire version this crate does not read.
    UnknownVersion(String),
    /// The body is in another encoding than the codec's.
    ContentType(String),
    /// The body could not be decoded.
    Body(String),
    /// The body is larger than the bridge accepts.
    Oversized {
        /// Its size in bytes.
        len: usize,
        /// The bridge's limit.
        max: usize,
    },
    /// The subject is not `<prefix>.<valid name>`.
    Subject(String),
    /// No local signal has the event's name (a `#[signal]` type that was
    /// never used in this process is not registered yet: see
    /// `Bridge::import_type`).
    NoSignal,
    /// The local signal's payload type cannot be made from JSON (not
    /// `Deserialize`, or not told: `Signal::serde_payloads`).
    NotDeserializable {
        /// The local payload type.
        payload_type: &'static str,
    },
    /// The payload does not fit the local signal's type.
    WrongType {
        /// The local payload type.
        payload_type: &'static str,
        /// What serde said.
        error: String,
    },
    /// (Export) the payload type cannot be turned into JSON (not
    /// `Serialize`, or not told).
    NotSerializable {
        /// The payload type.
        payload_type: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::MissingHeader(h) => write!(f, "missing header `{h}`"),
            WireError::BadHeader { header, value } => {
                write!(f, "bad value for header `{header}`: {value:?}")
            }
            WireError::UnknownVersion(v) => {
                write!(f, "unknown wire version {v:?} (this bridge reads {WIRE_VERSION:?})")
            }
            WireError::ContentType(t) => write!(f, "unsupported content type {t:?}"),
            WireError::Body(e) => write!(f, "undecodable body: {e}"),
            WireError::Oversized { len, max } => {
                write!(f, "body of {len} bytes exceeds the limit of {max}")
            }
            WireError::Subject(s) => write!(f, "subject {s:?} is not `<prefix>.<name>`"),
            WireError::NoSignal => f.write_str("no local signal has this name"),
            WireError::NotDeserializable { payload_type } => {
                write!(f, "local payload type `{payload_type}` cannot be made from the wire")
            }
            WireError::WrongType { payload_type, error } => {
                write!(f, "payload does not fit `{payload_type}`: {error}")
            }
            WireError::NotSerializable { payload_type } => {
                write!(f, "payload type `{payload_type}` cannot be serialized")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// One event, ready to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// `<prefix>.<name>`.
    pub subject: String,
    /// The envelope.
    pub headers: HeaderMap,
    /// The payload.
    pub body: Bytes,
}

/// A local event taken for the wire: what [`Captured::encode`] needs,
/// owned, so the emit that exported it hands it over and goes on (the
/// bridge encodes on its publishing task, not in the emit).
#[derive(Debug, Clone)]
pub struct Captured {
    name: &'static str,
    id: Uuid,
    timestamp: SystemTime,
    source: Option<String>,
    metadata: Metadata,
    type_name: &'static str,
    value: serde_json::Value,
}

impl Captured {
    /// The signal name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Encodes it with publish sequence `seq` (see [`SEQ`]).
    ///
    /// # Errors
    ///
    /// [`WireError::Body`] if the codec fails, [`WireError::Oversized`]
    /// past `max_body`.
    pub fn encode(
        &self,
        prefix: &str,
        node: &str,
        seq: u64,
        codec: &dyn Codec,
        max_body: usize,
    ) -> Result<Outgoing, WireError> {
        let body = codec.encode(&self.value).map_err(WireError::Body)?;
        if body.len() > max_body {
            return Err(WireError::Oversized { len: body.len(), max: max_body });
        }
        let mut headers = HeaderMap::new();
        let mut id = Uuid::encode_buffer();
        headers.insert(header(MSG_ID), &*self.id.hyphenated().encode_lower(&mut id));
        headers.insert(header(VERSION), WIRE_VERSION);
        headers.insert(header(ORIGIN), node);
        headers.insert(header(SEQ), seq.to_string());
        headers.insert(header(TIMESTAMP), rfc3339::format(self.timestamp));
        headers.insert(header(TYPE), self.type_name);
        headers.insert(header(CONTENT_TYPE), codec.content_type());
        if let Some(source) = &self.source {
            headers.insert(header(SOURCE), source.as_str());
        }
        if !self.metadata.is_empty() {
            let map: serde_json::Map<String, serde_json::Value> =
                self.metadata.iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
            // JSON escapes line breaks: the value is one header line.
            headers.insert(header(METADATA), serde_json::Value::Object(map).to_string());
        }
        let mut subject = String::with_capacity(prefix.len() + 1 + self.name.len());
        subject.push_str(prefix);
        subject.push('.');
        subject.push_str(self.name);
        Ok(Outgoing { subject, headers, body: body.into() })
    }
}

/// A header name from one of this module's constants: no validation and
/// no allocation (a name given as text is checked and, for these custom
/// headers, copied on every use).
pub(crate) fn header(h: &'static str) -> async_nats::header::HeaderName {
    async_nats::header::HeaderName::from_static(h)
}

/// Takes a local event for the wire: its payload as a value and its
/// envelope, owned.
///
/// # Errors
///
/// [`WireError::NotSerializable`] if the payload cannot be serialized,
/// [`WireError::Body`] if serializing fails, [`WireError::BadHeader`] if
/// the source holds a line break (a header is one line).
pub fn capture(event: &AnyEvent<'_>) -> Result<Captured, WireError> {
    let value = match event.to_json() {
        None => return Err(WireError::NotSerializable { payload_type: event.type_name() }),
        Some(Err(e)) => return Err(WireError::Body(e.to_string())),
        Some(Ok(value)) => value,
    };
    let source = event.source().map(str::to_owned);
    if let Some(s) = &source {
        if s.contains(['\r', '\n']) {
            return Err(WireError::BadHeader { header: SOURCE, value: cut(s) });
        }
    }
    Ok(Captured {
        name: event.name(),
        id: event.id(),
        timestamp: event.timestamp(),
        source,
        metadata: event.metadata().clone(),
        type_name: event.type_name(),
        value,
    })
}

/// Encodes a local event for the wire, with publish sequence `seq`:
/// [`capture`] then [`Captured::encode`].
///
/// # Errors
///
/// As for those two.
pub fn encode(
    event: &AnyEvent<'_>,
    prefix: &str,
    node: &str,
    seq: u64,
    codec: &dyn Codec,
    max_body: usize,
) -> Result<Outgoing, WireError> {
    capture(event)?.encode(prefix, node, seq, codec, max_body)
}

/// A message from the wire, decoded.
#[derive(Debug)]
pub struct Incoming {
    /// The signal name (the subject without the prefix).
    pub name: String,
    /// The node that published it.
    pub origin: String,
    /// Its publish sequence at the origin (see [`SEQ`]).
    pub seq: u64,
    /// The envelope: the original id, timestamp, source and metadata,
    /// with the payload as a value.
    pub event: Event<serde_json::Value>,
}

/// Decodes a message published under `prefix`.
///
/// # Errors
///
/// Every way the message can be wrong, as a [`WireError`]; never panics.
pub fn decode(
    subject: &str,
    headers: Option<&HeaderMap>,
    body: &[u8],
    prefix: &str,
    codec: &dyn Codec,
    max_body: usize,
) -> Result<Incoming, WireError> {
    if body.len() > max_body {
        return Err(WireError::Oversized { len: body.len(), max: max_body });
    }
    let name = subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|name| mesh::name::validate_name(name).is_ok())
        .ok_or_else(|| WireError::Subject(cut(subject)))?;
    let empty = HeaderMap::new();
    let headers = headers.unwrap_or(&empty);
    let get = |h: &'static str| headers.get(header(h)).map(|v| v.as_str());
    let need = |h: &'static str| get(h).ok_or(WireError::MissingHeader(h));
    let bad =
        |header: &'static str, value: &str| WireError::BadHeader { header, value: cut(value) };
    let version = need(VERSION)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnknownVersion(cut(version)));
    }
    if let Some(content_type) = get(CONTENT_TYPE) {
        if content_type != codec.content_type() {
            return Err(WireError::ContentType(cut(content_type)));
        }
    }
    let id = need(MSG_ID)?;
    let id = Uuid::try_parse(id).map_err(|_| bad(MSG_ID, id))?;
    let origin = need(ORIGIN)?;
    if origin.is_empty() {
        return Err(bad(ORIGIN, origin));
    }
    let seq = need(SEQ)?;
    let seq: u64 = seq.parse().map_err(|_| bad(SEQ, seq))?;
    let timestamp = need(TIMESTAMP)?;
    let timestamp: SystemTime =
        rfc3339::parse(timestamp).ok_or_else(|| bad(TIMESTAMP, timestamp))?;
    let mut metadata = Metadata::new();
    if let Some(raw) = get(METADATA) {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(raw)
        else {
            return Err(bad(METADATA, raw));
        };
        for (key, value) in map {
            let serde_json::Value::String(value) = value else { return Err(bad(METADATA, raw)) };
            metadata.insert(key, value);
        }
    }
    let data = codec.decode(body).map_err(WireError::Body)?;
    let mut event = Event::from_parts(id, timestamp, data);
    if let Some(source) = get(SOURCE) {
        event = event.with_source(source.to_owned());
    }
    event.metadata = metadata;
    Ok(Incoming { name: name.to_owned(), origin: origin.to_owned(), seq, event })
}

/// At most 64 bytes of `s` (on a character boundary), for reports.
fn cut(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The default codec, shared.
pub(crate) fn json() -> Arc<dyn Codec> {
    Arc::new(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, *v);
        }
        h
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            (VERSION, "1"),
            (MSG_ID, "01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f70"),
            (ORIGIN, "node-a"),
            (SEQ, "7"),
            (TIMESTAMP, "2026-12-03T15:11:02.5Z"),
            (SOURCE, "sensor"),
            (METADATA, r#"{"k":"v"}"#),
            (CONTENT_TYPE, "application/json"),
        ]
    }

    #[test]
    fn decodes_a_valid_message() {
        let h = headers(&valid());
        let m = decode("ev.system.up", Some(&h), br#"{"a":1}"#, "ev", &Json, 1024).unwrap();
        assert_eq!((m.name.as_str(), m.origin.as_str(), m.seq), ("system.up", "node-a", 7));
        assert_eq!(m.event.id.to_string(), "01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f70");
        assert_eq!(m.event.source.as_deref(), Some("sensor"));
        assert_eq!(m.event.metadata.get("k"), Some("v"));
        assert_eq!(m.event.data, serde_json::json!({"a": 1}));
    }

    #[test]
    fn each_defect_has_its_reason() {
        let without = |h: &str| {
            let v: Vec<_> = valid().into_iter().filter(|(k, _)| *k != h).collect();
            headers(&v)
        };
        let with = |h: &'static str, value: &'static str| {
            let mut v = valid();
            v.retain(|(k, _)| *k != h);
            v.push((h, value));
            headers(&v)
        };
        let body: &[u8] = b"1";
        let d = |h: &HeaderMap, subject: &str, body: &[u8]| {
            decode(subject, Some(h), body, "ev", &Json, 16).unwrap_err()
        };
        let ok = headers(&valid());
        assert_eq!(d(&ok, "ev", body), WireError::Subject("ev".into()));
        assert_eq!(d(&ok, "other.x", body), WireError::Subject("other.x".into()));
        assert_eq!(d(&ok, "ev.Bad", body), WireError::Subject("ev.Bad".into()));
        assert_eq!(d(&ok, "evx.y", body), WireError::Subject("evx.y".into()));
        for h in [VERSION, MSG_ID, ORIGIN, SEQ, TIMESTAMP] {
            assert_eq!(d(&without(h), "ev.x", body), WireError::MissingHeader(h));
        }
        assert_eq!(d(&with(VERSION, "2"), "ev.x", body), WireError::UnknownVersion("2".into()));
        assert!(matches!(
            d(&with(MSG_ID, "nope"), "ev.x", body),
            WireError::BadHeader { header: MSG_ID, .. }
        ));
        assert!(matches!(
            d(&with(SEQ, "-1"), "ev.x", body),
            WireError::BadHeader { header: SEQ, .. }
        ));
        assert!(matches!(
            d(&with(ORIGIN, ""), "ev.x", body),
            WireError::BadHeader { header: ORIGIN, .. }
        ));
        assert!(matches!(
            d(&with(TIMESTAMP, "yesterday"), "ev.x", body),
            WireError::BadHeader { header: TIMESTAMP, .. }
        ));
        assert!(matches!(
            d(&with(METADATA, r#"{"k":1}"#), "ev.x", body),
            WireError::BadHeader { header: METADATA, .. }
        ));
        assert!(matches!(
            d(&with(METADATA, "[]"), "ev.x", body),
            WireError::BadHeader { header: METADATA, .. }
        ));
        assert_eq!(
            d(&with(CONTENT_TYPE, "application/cbor"), "ev.x", body),
            WireError::ContentType("application/cbor".into())
        );
        assert!(matches!(d(&ok, "ev.x", b"{not json"), WireError::Body(_)));
        assert_eq!(d(&ok, "ev.x", &[b' '; 17]), WireError::Oversized { len: 17, max: 16 });
        assert_eq!(
            decode("ev.x", None, body, "ev", &Json, 16).unwrap_err(),
            WireError::MissingHeader(VERSION)
        );
    }

    /// A small deterministic generator (xorshift64*), so failures replay.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, max: u64) -> Vec<u8> {
            let len = self.below(max + 1);
            (0..len).map(|_| self.next() as u8).collect()
        }
        /// A string near a valid value: valid, mutated, or random.
        fn near(&mut self, valid: &str, clean: bool) -> String {
            match self.below(if clean { 32 } else { 4 }) {
                0 | 4.. => valid.to_owned(),
                1 => String::from_utf8_lossy(&self.bytes(40)).into_owned(),
                2 => {
                    let mut b = valid.as_bytes().to_vec();
                    if !b.is_empty() {
                        let at = self.below(b.len() as u64) as usize;
                        b[at] = self.next() as u8;
                    }
                    String::from_utf8_lossy(&b).into_owned()
                }
                _ => valid[..self.below(valid.len() as u64 + 1) as usize].to_owned(),
            }
        }
    }

    /// The decoder on arbitrary subjects, headers and bodies: it returns
    /// (never panics), and what it accepts is well-formed.
    #[test]
    fn the_decoder_survives_arbitrary_input() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..100_000 {
            // Half the messages are mostly valid, so the checks past the
            // first few are reached too.
            let clean = g.below(2) == 0;
            let subject = g.near("ev.system.up", clean);
            let mut h = HeaderMap::new();
            for (k, v) in valid() {
                match g.below(if clean { 64 } else { 6 }) {
                    0 => {} // left out
                    _ => {
                        let value = g.near(v, clean);
                        // The client refuses line breaks in headers: so
                        // does any message that reaches the decoder.
                        if !value.contains(['\r', '\n']) {
                            h.insert(k, value.as_str());
                        }
                    }
                }
            }
            let body = match g.below(3) {
                0 => br#"{"a":[1,2,{"b":null}]}"#.to_vec(),
                1 => g.bytes(64),
                _ => g.near(r#"{"a":1}"#, clean).into_bytes(),
            };
            let max = if clean { 1024 } else { g.below(80) as usize };
            let with_headers = clean || g.below(10) != 0;
            if let Ok(m) = decode(&subject, with_headers.then_some(&h), &body, "ev", &Json, max) {
                accepted += 1;
                assert!(mesh::name::validate_name(&m.name).is_ok());
                assert!(!m.origin.is_empty());
                assert!(body.len() <= max);
            }
        }
        assert!(accepted > 10_000, "the generator reaches valid messages too ({accepted})");
    }
}
