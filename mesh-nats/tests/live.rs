//! The bridge in live mode (core NATS) against a server of its own: the
//! wire format as `WIRE.md` documents it (checked with a raw client),
//! import with the original envelope, no echo, bad input, subject
//! safety, auth, and loss accounting.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use futures_util::StreamExt;
use mesh::prelude::*;
use mesh::{AnyEvent, Event};
use mesh_nats::report::{self, Direction, LossReason};
use mesh_nats::wire::{self, WireError};
use mesh_nats::{Bridge, BridgeError, Config};
use serde::{Deserialize, Serialize};

use common::{Server, eventually, wire_signal};

const WAIT: Duration = Duration::from_secs(10);

#[signal(name = "live.order.placed")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderPlaced {
    id: u64,
    item: String,
}

#[signal(name = "live.inbound.ping")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ping {
    n: u32,
}

fn valid_headers(id: &str, origin: &str, seq: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(wire::MSG_ID, id);
    h.insert(wire::VERSION, "1");
    h.insert(wire::ORIGIN, origin);
    h.insert(wire::SEQ, seq.to_string().as_str());
    h.insert(wire::TIMESTAMP, "2026-12-03T15:11:02.5Z");
    h
}

/// The subject, headers and body of an exported event, read by a raw
/// client: what `WIRE.md` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_event_is_on_the_wire_as_documented() {
    let server = Server::start();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let mut sub = raw.subscribe("shop.>").await.unwrap();
    common::round_trip(&raw).await;
    let config = Config::new("shop").unwrap().node("node-a").unwrap();
    let bridge = Bridge::connect(server.url(), config).await.unwrap();
    let _export = bridge.export_type::<OrderPlaced>().unwrap();

    let event = Event::new(OrderPlaced { id: 7, item: "tea".into() })
        .with_source("till-3")
        .with_meta("correlation-id", "c-42");
    let (id, timestamp) = (event.id, event.timestamp);
    OrderPlaced::with_signal(|s| s.emit_event(event));
    bridge.flush().await.unwrap();

    let msg = tokio::time::timeout(WAIT, sub.next()).await.unwrap().unwrap();
    assert_eq!(msg.subject.as_str(), "shop.live.order.placed");
    let h = msg.headers.as_ref().expect("headers");
    let get = |k: &str| h.get(k).map(|v| v.as_str().to_owned());
    assert_eq!(get("Nats-Msg-Id"), Some(id.hyphenated().to_string()));
    assert_eq!(get("Mesh-Wire").as_deref(), Some("1"));
    assert_eq!(get("Mesh-Origin").as_deref(), Some("node-a"));
    assert_eq!(get("Mesh-Seq").as_deref(), Some("1"));
    assert_eq!(get("Mesh-Source").as_deref(), Some("till-3"));
    assert_eq!(get("Mesh-Metadata").as_deref(), Some(r#"{"correlation-id":"c-42"}"#));
    assert_eq!(get("Content-Type").as_deref(), Some("application/json"));
    assert!(get("Mesh-Type").unwrap().ends_with("OrderPlaced"));
    let stamp = get("Mesh-Timestamp").unwrap();
    let nanos = timestamp.duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    assert!(stamp.ends_with(&format!(".{nanos:09}Z")), "{stamp}");
    let body: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(body, serde_json::json!({"id": 7, "item": "tea"}));
    assert_eq!(bridge.stats().exported, 1);
}

/// A message written by hand from `WIRE.md` reaches typed receivers,
/// pattern subscribers and the envelope intact, with its origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_event_keeps_its_envelope_and_reaches_every_kind_of_receiver() {
    let server = Server::start();
    let bridge = Bridge::connect(server.url(), Config::new("shop").unwrap()).await.unwrap();
    let _import = bridge.import_type::<Ping>().await.unwrap();
    let typed = Arc::new(Mutex::new(Vec::new()));
    let sink = typed.clone();
    let _typed = Ping::signal().connect(move |ev: &Event<Ping>| {
        sink.lock().unwrap().push((
            ev.id,
            ev.data.clone(),
            ev.source.as_deref().map(str::to_owned),
            ev.metadata.get("k").map(str::to_owned),
            ev.metadata.get(mesh_nats::ORIGIN_KEY).map(str::to_owned),
            ev.metadata.get(mesh_nats::ORIGIN_SEQ_KEY).map(str::to_owned),
            ev.timestamp,
        ));
    });
    let by_pattern = Arc::new(Mutex::new(0));
    let count = by_pattern.clone();
    let _pattern = mesh::subscribe_pattern("live.inbound.*", move |_: &AnyEvent| {
        *count.lock().unwrap() += 1;
    })
    .unwrap();

    let raw = async_nats::connect(server.url()).await.unwrap();
    let id = "01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f70";
    let mut h = valid_headers(id, "node-b", 3);
    h.insert(wire::SOURCE, "sensor");
    h.insert(wire::METADATA, r#"{"k":"v"}"#);
    raw.publish_with_headers("shop.live.inbound.ping", h, r#"{"n":5}"#.into()).await.unwrap();
    common::round_trip(&raw).await;

    assert!(eventually(WAIT, || typed.lock().unwrap().len() == 1).await);
    let got = typed.lock().unwrap()[0].clone();
    assert_eq!(got.0.to_string(), id);
    assert_eq!(got.1, Ping { n: 5 });
    assert_eq!(got.2.as_deref(), Some("sensor"));
    assert_eq!(got.3.as_deref(), Some("v"));
    assert_eq!(got.4.as_deref(), Some("node-b"));
    assert_eq!(got.5.as_deref(), Some("3"));
    let expected = std::time::UNIX_EPOCH + Duration::new(1_796_310_662, 500_000_000);
    assert_eq!(got.6, expected, "2026-12-03T15:11:02.5Z");
    assert_eq!(*by_pattern.lock().unwrap(), 1);
    assert_eq!(bridge.stats().imported, 1);
}

/// A node that exports and imports the same pattern: its own messages
/// come back and are skipped; another node's are delivered once and not
/// exported again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echo_each_event_crosses_once() {
    static NS: Namespace = Namespace::new("live-echo");
    let server = Server::start();
    let config = Config::new("echo").unwrap().node("node-a").unwrap();
    let bridge = Bridge::connect(server.url(), config).await.unwrap();
    let signal = NS.signal::<u32>("n").unwrap();
    signal.serde_payloads();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _r = signal.connect(move |ev: &Event<u32>| {
        sink.lock()
            .unwrap()
            .push((ev.data, ev.metadata.get(mesh_nats::ORIGIN_KEY).map(str::to_owned)));
    });
    let _export = bridge.export("live-echo.>").unwrap();
    let _import = bridge.import("live-echo.>").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let mut wire_log = raw.subscribe("echo.>").await.unwrap();
    common::round_trip(&raw).await;

    signal.emit(1); // local: exported, comes back, skipped
    let remote = valid_headers("01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f71", "node-b", 1);
    raw.publish_with_headers("echo.live-echo.n", remote, "2".into()).await.unwrap();
    common::round_trip(&raw).await;
    bridge.flush().await.unwrap();

    assert!(
        eventually(WAIT, || bridge.stats().own_skipped == 1 && bridge.stats().imported == 1).await
    );
    // Two messages crossed the wire: node-a's and node-b's; node-b's was
    // not published again by node-a.
    let mut origins = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(WAIT, wire_log.next())
            .await
            .unwrap_or_else(|_| panic!("got only {origins:?}; {:?}", bridge.stats()))
            .unwrap();
        origins.push(m.headers.unwrap().get(wire::ORIGIN).unwrap().as_str().to_owned());
    }
    origins.sort(); // two publishers: no order between them
    assert_eq!(origins, ["node-a", "node-b"]);
    bridge.flush().await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(300), wire_log.next()).await.is_err());
    assert_eq!(*seen.lock().unwrap(), [(1, None), (2, Some("node-b".into()))]);
    assert_eq!(bridge.stats().not_reexported, 1);
}

/// Every kind of bad message is counted and reported with its reason and
/// subject, reaches no receiver, and the bridge goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_and_never_delivered() {
    static NS: Namespace = Namespace::new("live-bad");
    let server = Server::start();
    let config = Config::new("bad").unwrap().max_body(64);
    let bridge = Bridge::connect(server.url(), config).await.unwrap();
    let signal = NS.signal::<u32>("n").unwrap();
    signal.serde_payloads();
    let _text = NS.signal::<String>("no-serde").unwrap(); // not told: cannot convert
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let sink = delivered.clone();
    let _r = signal.connect(move |n: &u32| sink.lock().unwrap().push(*n));
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    // (Tests run in parallel: only this test's subjects.)
    let _reports = report::rejected().connect(move |r: &report::Rejected| {
        if r.subject.starts_with("bad.") {
            assert_eq!(r.direction, Direction::Import);
            sink.lock().unwrap().push((r.subject.clone(), r.reason.clone()));
        }
    });
    let _import = bridge.import(">").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let id = |n: u8| format!("01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f{n:02x}");
    let ok = |n: u8, seq: u64| valid_headers(&id(n), "node-b", seq);
    let mut cases: Vec<(&str, HeaderMap, Vec<u8>)> = vec![
        ("bad.live-bad.n", ok(1, 1), b"{not json".to_vec()),
        ("bad.live-bad.n", ok(2, 2), br#""a string""#.to_vec()),
        ("bad.live-bad.n", ok(3, 3), vec![b'1'; 65]),
        ("bad.live-bad.no-such", ok(4, 1), b"1".to_vec()),
        ("bad.live-bad.no-serde", ok(5, 1), br#""x""#.to_vec()),
        ("bad.live-bad.n", HeaderMap::new(), b"1".to_vec()),
    ];
    let mut v2 = ok(6, 4);
    v2.insert(wire::VERSION, "2");
    cases.push(("bad.live-bad.n", v2, b"1".to_vec()));
    let mut garbled = ok(7, 5);
    garbled.insert(wire::TIMESTAMP, "not a time");
    cases.push(("bad.live-bad.n", garbled, b"1".to_vec()));
    let mut bad_id = ok(8, 6);
    bad_id.insert(wire::MSG_ID, "no-uuid");
    cases.push(("bad.live-bad.n", bad_id, b"1".to_vec()));
    for (subject, headers, body) in cases {
        raw.publish_with_headers(subject, headers, body.into()).await.unwrap();
    }
    // The bridge still works: a good one after all of them.
    raw.publish_with_headers("bad.live-bad.n", ok(9, 7), "42".into()).await.unwrap();
    // A message without headers at all.
    raw.publish("bad.live-bad.n", "1".into()).await.unwrap();
    common::round_trip(&raw).await;

    assert!(
        eventually(WAIT, || reasons.lock().unwrap().len() == 10).await,
        "{:?}",
        reasons.lock().unwrap()
    );
    assert!(eventually(WAIT, || delivered.lock().unwrap().len() == 1).await);
    assert_eq!(*delivered.lock().unwrap(), [42]);
    let reasons = reasons.lock().unwrap().clone();
    let kinds: Vec<String> = reasons
        .iter()
        .map(|(subject, r)| {
            let kind = match r {
                WireError::Body(_) => "body".to_owned(),
                WireError::WrongType { .. } => "wrong type".to_owned(),
                WireError::Oversized { len, max } => format!("oversized {len}>{max}"),
                WireError::NoSignal => "no signal".to_owned(),
                WireError::NotDeserializable { .. } => "not deserializable".to_owned(),
                WireError::MissingHeader(h) => format!("missing {h}"),
                WireError::UnknownVersion(v) => format!("version {v}"),
                WireError::BadHeader { header, .. } => format!("bad {header}"),
                other => format!("{other:?}"),
            };
            format!("{subject}: {kind}")
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "bad.live-bad.n: body",
            "bad.live-bad.n: wrong type",
            "bad.live-bad.n: oversized 65>64",
            "bad.live-bad.no-such: no signal",
            "bad.live-bad.no-serde: not deserializable",
            "bad.live-bad.n: missing Mesh-Wire",
            "bad.live-bad.n: version 2",
            "bad.live-bad.n: bad Mesh-Timestamp",
            "bad.live-bad.n: bad Nats-Msg-Id",
            "bad.live-bad.n: missing Mesh-Wire",
        ]
    );
    let stats = bridge.stats();
    assert_eq!((stats.import_rejected, stats.imported), (10, 1));
}

/// Nothing a caller passes leaves the prefix or adds wildcards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subject_injection() {
    for prefix in ["", "a.>", "a.*", "a b", "a..b", "A", "a.\r\nPUB x 1"] {
        assert!(matches!(Config::new(prefix), Err(BridgeError::Name(_))), "{prefix:?}");
    }
    assert!(Config::new("x").unwrap().node("a\r\nPUB evil 1").is_err());
    let server = Server::start();
    let bridge = Bridge::connect(server.url(), Config::new("safe").unwrap()).await.unwrap();
    for pattern in ["", "a.b*", ">.a", "a b", "a.\r\n", "A.b"] {
        assert!(matches!(bridge.export(pattern), Err(BridgeError::Pattern(_))), "{pattern:?}");
        assert!(
            matches!(bridge.import(pattern).await, Err(BridgeError::Pattern(_))),
            "{pattern:?}"
        );
    }
    // `>` imports `safe.>` only: a message outside the prefix never arrives.
    let _import = bridge.import(">").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    raw.publish_with_headers(
        "unsafe.x",
        valid_headers("01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f72", "b", 1),
        "1".into(),
    )
    .await
    .unwrap();
    common::round_trip(&raw).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = bridge.stats();
    assert_eq!((stats.imported, stats.import_rejected), (0, 0));
    // A source with a line break cannot become a header line: the event
    // is refused (reported), not published with an injected header.
    static NS: Namespace = Namespace::new("live-inject");
    let signal = NS.signal::<u32>("n").unwrap();
    signal.serde_payloads();
    let _export = bridge.export("live-inject.>").unwrap();
    signal.emit_from("till\r\nMesh-Origin: forged", 1);
    bridge.flush().await.unwrap();
    let stats = bridge.stats();
    assert_eq!((stats.export_rejected, stats.exported), (1, 0));
    // Overlapping patterns would carry events twice: refused.
    let _a = bridge.export("x.>").unwrap();
    assert!(matches!(bridge.export("x.y"), Err(BridgeError::Overlap { .. })));
    assert!(matches!(bridge.import("x.*").await, Err(BridgeError::Overlap { .. })));
    drop(_a);
    let _b = bridge.export("x.y").unwrap();
}

/// Against a server that requires a token: a wrong one fails with a clear
/// error, the right one works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_server_refuses_the_wrong_token() {
    let server = Server::start_with(&["--auth", "s3cret"]);
    let wrong = async_nats::ConnectOptions::new()
        .token("nope".into())
        .max_reconnects(1)
        .connection_timeout(Duration::from_secs(2));
    let err = Bridge::connect_with(wrong, server.url(), Config::new("auth").unwrap())
        .await
        .expect_err("a wrong token is refused");
    let text = err.to_string();
    assert!(text.starts_with("cannot connect to NATS:"), "{text}");
    assert!(text.to_lowercase().contains("authorization"), "{text}");
    let right = async_nats::ConnectOptions::new().token("s3cret".into());
    let bridge =
        Bridge::connect_with(right, server.url(), Config::new("auth").unwrap()).await.unwrap();
    bridge.flush().await.unwrap();
}

/// A full export queue loses events: every loss is counted and reported,
/// and what was not lost was published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_losses_are_counted_and_reported() {
    static NS: Namespace = Namespace::new("live-loss");
    let server = Server::start();
    let config = Config::new("loss").unwrap().export_buffer(1);
    let bridge = Bridge::connect(server.url(), config).await.unwrap();
    let signal = wire_signal(&NS);
    let reported = Arc::new(Mutex::new(0u64));
    let sink = reported.clone();
    let _reports = report::lost().connect(move |l: &report::Lost| {
        if l.reason == LossReason::BufferFull && l.subject == "loss.live-loss.n" {
            *sink.lock().unwrap() += l.count;
        }
    });
    let _export = bridge.export("live-loss.n").unwrap();
    const N: u64 = 20_000;
    for i in 0..N {
        signal.emit(i);
    }
    bridge.flush().await.unwrap();
    let stats = bridge.stats();
    assert!(stats.lost_buffer_full > 0, "a 1-event buffer overflows under a burst");
    assert_eq!(stats.exported + stats.lost_buffer_full, N);
    assert_eq!(*reported.lock().unwrap(), stats.lost_buffer_full);
}

/// An importer counts a gap in an origin's `seq` as lost, reports it, and
/// counts a straggler as late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_in_an_origin_sequence_are_reported() {
    static NS: Namespace = Namespace::new("live-gap");
    let server = Server::start();
    let bridge = Bridge::connect(server.url(), Config::new("gap").unwrap()).await.unwrap();
    let signal = NS.signal::<u32>("n").unwrap();
    signal.serde_payloads();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    // Only this test's subject: the reports are process-wide, and other
    // tests of this binary (the slow importer) report gaps of their own
    // at the same time (seen in a CI run).
    let _reports = report::lost().connect(move |l: &report::Lost| {
        if l.reason == LossReason::Gap && l.subject.starts_with("gap.") {
            sink.lock().unwrap().push((l.subject.clone(), l.count));
        }
    });
    let _import = bridge.import("live-gap.>").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    for (n, seq) in [(1u8, 1u64), (2, 2), (3, 5), (4, 3)] {
        let h = valid_headers(&format!("01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f{n:02x}"), "node-b", seq);
        raw.publish_with_headers("gap.live-gap.n", h, "1".into()).await.unwrap();
    }
    common::round_trip(&raw).await;
    assert!(eventually(WAIT, || bridge.stats().imported == 4).await);
    let stats = bridge.stats();
    assert_eq!((stats.gaps, stats.late), (2, 1));
    assert_eq!(*reported.lock().unwrap(), [("gap.live-gap.n".to_owned(), 2)]);
}

/// User and password pass through the client's options too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_pass_through() {
    let server = Server::start_with(&["--user", "shop", "--pass", "s3cret"]);
    let wrong = async_nats::ConnectOptions::new()
        .user_and_password("shop".into(), "nope".into())
        .max_reconnects(1);
    let err = Bridge::connect_with(wrong, server.url(), Config::new("up").unwrap()).await;
    assert!(err.unwrap_err().to_string().to_lowercase().contains("authorization"));
    let right = async_nats::ConnectOptions::new().user_and_password("shop".into(), "s3cret".into());
    let bridge =
        Bridge::connect_with(right, server.url(), Config::new("up").unwrap()).await.unwrap();
    bridge.flush().await.unwrap();
}

/// An importer whose receivers fall behind the client's buffer loses
/// messages: the client's slow-consumer reports and the gaps they leave
/// are counted and reported, never silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_importer_reports_what_it_lost() {
    static NS: Namespace = Namespace::new("live-slow");
    const MARKER: u32 = 1 << 30;
    let server = Server::start();
    let exporter = Bridge::connect(server.url(), Config::new("slow").unwrap().node("a").unwrap())
        .await
        .unwrap();
    // A client buffer of 8 messages, and a receiver that takes 1 ms each.
    let tiny = async_nats::ConnectOptions::new().subscription_capacity(8);
    let importer =
        Bridge::connect_with(tiny, server.url(), Config::new("slow").unwrap().node("b").unwrap())
            .await
            .unwrap();
    let signal = NS.signal::<u32>("n").unwrap();
    signal.serde_payloads();
    // (data events delivered, markers delivered)
    let delivered = Arc::new(Mutex::new((0u64, 0u64)));
    let sink = delivered.clone();
    let _slow = signal.connect(move |ev: &Event<u32>| {
        if ev.metadata.get(mesh_nats::ORIGIN_KEY) == Some("a") {
            std::thread::sleep(Duration::from_millis(1));
            let mut d = sink.lock().unwrap();
            if ev.data >= MARKER { d.1 += 1 } else { d.0 += 1 }
        }
    });
    let reported = Arc::new(Mutex::new((0u64, 0u64)));
    let sink = reported.clone();
    let _reports = report::lost().connect(move |l: &report::Lost| match l.reason {
        LossReason::SlowConsumer => sink.lock().unwrap().0 += l.count,
        LossReason::Gap if l.subject == "slow.live-slow.n" => sink.lock().unwrap().1 += l.count,
        _ => {}
    });
    let _export = exporter.export("live-slow.>").unwrap();
    let _import = importer.import("live-slow.>").await.unwrap();
    const SENT: u64 = 2_000;
    for i in 0..SENT as u32 {
        signal.emit(i);
    }
    exporter.flush().await.unwrap();
    // Markers until one arrives: a loss at the tail of the burst shows as
    // a gap only when a later event arrives.
    let mut markers = 0;
    let marker_arrived = eventually(WAIT, || {
        if delivered.lock().unwrap().1 > 0 {
            return true;
        }
        signal.emit(MARKER + markers);
        markers += 1;
        false
    })
    .await;
    assert!(marker_arrived);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = importer.stats();
    let (slow, gaps) = *reported.lock().unwrap();
    let (data, _) = *delivered.lock().unwrap();
    eprintln!(
        "sent {SENT} (+{markers} markers), delivered {data}, gaps {gaps}, slow-consumer reports {slow}"
    );
    assert!(data < SENT, "a buffer of 8 and 1 ms per event lose some of a 2,000-event burst");
    assert!(data + gaps >= SENT, "every lost event reported");
    assert!(gaps <= SENT - data + u64::from(markers), "and no more than were lost");
    assert_eq!((stats.gaps, stats.slow_consumer), (gaps, slow));
    assert!(slow > 0, "the client's slow-consumer reports are counted");
}
