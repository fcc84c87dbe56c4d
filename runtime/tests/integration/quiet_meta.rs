//! Requests that answer only sometimes — memcached's quiet meta commands (`q`: a hit or an
//! error replies, a success or a miss does not) — against a real memcached: sent as one group
//! ended by `mn` (which always answers `MN`), the group is one request whose `Expect` collects
//! the replies up to `MN`. It takes one bridge-queue entry, so concurrent callers and direct
//! batches around it stay matched and nothing waits for a reply that never comes.

use std::net::SocketAddr;
use std::rc::Rc;

use crate::support::{run_on, test_loop};
use bytes::{Bytes, BytesMut};
use corelane_runtime::roundtrip::{Batch, Codec, Pipe};
use corelane_runtime::{Limits, Stream};
use corelane_testkit::MemcachedServer;

/// What a request tells the decoder.
enum Expect {
    /// One line (`version`).
    Line,
    /// Any number of meta replies (`VA <len> …` with a value, or a header-only line), then `MN`.
    UntilMn,
}

/// A reply: its lines, each with the value that followed it if any (`MN` not included).
type Frames = Vec<(Bytes, Option<Bytes>)>;

struct Meta;

/// The end of the line starting at `at` (past its `\r\n`).
fn line_end(input: &[u8], at: usize) -> Option<usize> {
    input[at..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| at + i + 2)
}

impl Codec for Meta {
    type Reply = Frames;
    type Expect = Expect;
    type Error = String;

    fn decode(&mut self, expect: &Expect, input: &mut BytesMut) -> Result<Option<Frames>, String> {
        if let Expect::Line = expect {
            return Ok(line_end(input, 0).map(|end| vec![(input.split_to(end).freeze(), None)]));
        }
        // Find the whole group first (bounded by what arrived), then split it off.
        let mut at = 0;
        let mut spans = Vec::new();
        loop {
            let Some(end) = line_end(input, at) else {
                return Ok(None);
            };
            let line = &input[at..end - 2];
            if line == b"MN" {
                let group = input.split_to(end).freeze();
                let frames = spans
                    .into_iter()
                    .map(|(head, value): ((usize, usize), Option<(usize, usize)>)| {
                        (
                            group.slice(head.0..head.1),
                            value.map(|(a, b)| group.slice(a..b)),
                        )
                    })
                    .collect();
                return Ok(Some(frames));
            }
            if let Some(rest) = line.strip_prefix(b"VA ") {
                let len: usize = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| s.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("bad VA line {:?}", String::from_utf8_lossy(line)))?;
                let value_end = end.checked_add(len).ok_or("value length overflows")?;
                if input.len() < value_end + 2 {
                    return Ok(None);
                }
                spans.push(((at, end - 2), Some((end, value_end))));
                at = value_end + 2;
            } else {
                spans.push(((at, end - 2), None));
                at = end;
            }
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), String> {
        if input.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unsolicited bytes", input.len()))
        }
    }
}

/// A quiet group: set every key quietly, get each back and one missing key quietly, then `mn`.
fn group(buf: &mut BytesMut, keys: &[String]) {
    for key in keys {
        let value = format!("v:{key}");
        buf.extend_from_slice(format!("ms {key} {} q\r\n{value}\r\n", value.len()).as_bytes());
    }
    for key in keys {
        buf.extend_from_slice(format!("mg {key} k v q\r\n").as_bytes());
        buf.extend_from_slice(format!("mg missing:{key} k v q\r\n").as_bytes());
    }
    buf.extend_from_slice(b"mn\r\n");
}

/// The group's reply holds exactly one hit per key, in order, and nothing for the quiet
/// successes and misses.
fn check_group(frames: &Frames, keys: &[String]) {
    assert_eq!(frames.len(), keys.len(), "{frames:?}");
    for ((head, value), key) in frames.iter().zip(keys) {
        let value = value.as_ref().expect("a hit carries its value");
        assert_eq!(&value[..], format!("v:{key}").as_bytes());
        let want = format!("VA {} k{key}", value.len());
        assert_eq!(&head[..], want.as_bytes());
    }
}

async fn connect(addr: SocketAddr) -> Pipe<Meta> {
    Pipe::new(
        Stream::connect_tcp(addr).await.unwrap(),
        Meta,
        Limits::default(),
    )
    .unwrap()
}

#[test]
fn quiet_meta_groups_ended_by_mn_share_the_bridge_queue_without_stalling_it() {
    let server = MemcachedServer::start().unwrap();
    let addr = server.addr();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(connect(addr).await);
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let pipe = pipe.clone();
                corelane_runtime::task::spawn(async move {
                    for i in 0..40 {
                        let keys: Vec<String> =
                            (0..(i % 5)).map(|k| format!("q{t}:{i}:{k}")).collect();
                        let frames = pipe
                            .call(Expect::UntilMn, |b| group(b, &keys))
                            .await
                            .unwrap();
                        check_group(&frames, &keys);
                        // A plain request right behind it gets its own reply.
                        let version =
                            pipe.call(Expect::Line, |b| b.extend_from_slice(b"version\r\n"));
                        let line = version.await.unwrap();
                        assert!(line[0].0.starts_with(b"VERSION "), "{line:?}");
                    }
                })
                .unwrap()
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let stats = pipe.stats();
        assert!(
            stats.bridged > 100,
            "callers did not share the queue: {stats:?}"
        );

        // The same as a direct batch: groups and plain requests, one slot each.
        let mut batch: Batch<Meta> = Batch::new();
        let groups: Vec<Vec<String>> = (0..50)
            .map(|g| (0..(g % 4)).map(|k| format!("d:{g}:{k}")).collect())
            .collect();
        for keys in &groups {
            batch.push(Expect::UntilMn, |b| group(b, keys));
            batch.push(Expect::Line, |b| b.extend_from_slice(b"version\r\n"));
        }
        let direct_before = pipe.stats().direct;
        pipe.run(&mut batch).await.unwrap();
        assert_eq!(pipe.stats().direct, direct_before + 1);
        let replies = batch.take_all();
        assert_eq!(replies.len(), 100);
        for (k, reply) in replies.into_iter().enumerate() {
            let frames = reply.unwrap();
            if k % 2 == 0 {
                check_group(&frames, &groups[k / 2]);
            } else {
                assert!(frames[0].0.starts_with(b"VERSION "), "{frames:?}");
            }
        }
        assert_eq!(pipe.in_flight(), 0);
        assert!(!pipe.is_closed());
    });
    drop(server);
}
