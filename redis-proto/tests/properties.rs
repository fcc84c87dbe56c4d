//! Property tests: encode → decode round-trips under any fragmentation, and arbitrary input
//! keeps the decoder's consumption invariants.
// Test code: panicking on a broken invariant is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use corelane_redis_proto::{
    write_attribute, DecodeError, Decoder, Frame, Limits, NullKind, ServerError, Value,
};
use proptest::prelude::*;

fn line_text() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    )
    .prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
        Just(Bytes::from_static(b"\r\n")),
        Just(Bytes::new()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        line_text().prop_map(Value::SimpleString),
        line_text().prop_map(|t| Value::Error(ServerError::new(t))),
        any::<i64>().prop_map(Value::Integer),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)].prop_map(Value::Integer),
        blob().prop_map(Value::BulkString),
        prop_oneof![
            Just(NullKind::Null),
            Just(NullKind::Bulk),
            Just(NullKind::Array)
        ]
        .prop_map(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        any::<f64>().prop_map(Value::Double),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1.5e10)
        ]
        .prop_map(Value::Double),
        "-?[0-9]{1,40}".prop_map(|s| Value::BigNumber(Bytes::from(s))),
        blob().prop_map(|b| Value::BlobError(ServerError::new(b))),
        (any::<[u8; 3]>(), blob()).prop_map(|(format, text)| Value::Verbatim { format, text }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        let list = proptest::collection::vec(inner.clone(), 0..6);
        prop_oneof![
            list.clone().prop_map(Value::Array),
            list.clone().prop_map(Value::Set),
            list.prop_map(Value::Push),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

/// Sorted cut points inside `len`.
fn cuts(raw: &[usize], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|c| c % (len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// What one run of the decoder over an input produced.
#[derive(Debug, PartialEq)]
struct Run {
    /// Each frame (re-encoded, so NaN compares equal) with the bytes it consumed.
    frames: Vec<(bool, Bytes, usize)>,
    /// The error that ended the run, if any.
    error: Option<DecodeError>,
    /// Bytes consumed into the decoder's resume state after the last frame.
    partial: usize,
    /// Bytes left in the buffer at the end; `None` after an error (consumption is then
    /// unspecified, and depends on how much had been fed).
    remaining: Option<usize>,
}

/// Feeds `input` to a fresh decoder in pieces ending at `cuts`, checking after every call that
/// consumed + remaining == fed and that what remains is the unconsumed suffix.
fn run(input: &[u8], cuts: &[usize], limits: Limits) -> Run {
    let mut d = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let (mut fed, mut consumed, mut frame_start) = (0, 0, 0);
    let mut frames = Vec::new();
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    for end in ends {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            let before = buf.len();
            let out = d.decode(&mut buf);
            consumed += before - buf.len();
            assert_eq!(consumed + buf.len(), fed);
            assert_eq!(&buf[..], &input[consumed..fed]);
            match out {
                Ok(Some(frame)) => {
                    let push = frame.is_push();
                    frames.push((push, frame.into_value().to_bytes(), consumed - frame_start));
                    frame_start = consumed;
                }
                Ok(None) => {
                    assert_eq!(d.partial_len(), consumed - frame_start);
                    assert_eq!(d.in_progress(), consumed > frame_start);
                    break;
                }
                Err(e) => {
                    // Errors are sticky.
                    assert_eq!(d.decode(&mut buf), Err(e.clone()));
                    return Run {
                        frames,
                        error: Some(e),
                        partial: 0,
                        remaining: None,
                    };
                }
            }
        }
    }
    Run {
        frames,
        error: None,
        partial: consumed - frame_start,
        remaining: Some(buf.len()),
    }
}

/// RESP-shaped fragments, so that random inputs get past the first byte.
fn resp_ish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(&b"*2\r\n"[..]),
        Just(&b"*1\r\n"[..]),
        Just(&b"*-1\r\n"[..]),
        Just(&b"%1\r\n"[..]),
        Just(&b"|1\r\n"[..]),
        Just(&b">2\r\n"[..]),
        Just(&b"~1\r\n"[..]),
        Just(&b"$3\r\nabc\r\n"[..]),
        Just(&b"$-1\r\n"[..]),
        Just(&b"$4294967296\r\n"[..]),
        Just(&b"=8\r\ntxt:abcd\r\n"[..]),
        Just(&b"!3\r\nERR\r\n"[..]),
        Just(&b":-9223372036854775808\r\n"[..]),
        Just(&b"+OK\r\n"[..]),
        Just(&b"-ERR x\r\n"[..]),
        Just(&b",inf\r\n"[..]),
        Just(&b"(12\r\n"[..]),
        Just(&b"#t\r\n"[..]),
        Just(&b"_\r\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"9"[..]),
    ]
    .prop_map(<[u8]>::to_vec);
    let piece = prop_oneof![3 => token, 1 => proptest::collection::vec(any::<u8>(), 0..4)];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn encode_decode_round_trips_under_any_split(
        values in proptest::collection::vec(value(), 1..4),
        attribute in proptest::option::of(proptest::collection::vec((leaf(), leaf()), 0..3)),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut input = BytesMut::new();
        let mut expected = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let start = input.len();
            if let (0, Some(attrs)) = (i, &attribute) {
                write_attribute(&mut input, attrs);
            }
            v.write_to(&mut input);
            expected.push((matches!(v, Value::Push(_)), v.to_bytes(), input.len() - start));
        }
        let cuts = cuts(&raw_cuts, input.len());
        let got = run(&input, &cuts, Limits::default());
        prop_assert_eq!(got, Run { frames: expected, error: None, partial: 0, remaining: Some(0) });
    }

    #[test]
    fn arbitrary_bytes_keep_the_invariants(
        input in prop_oneof![resp_ish(), proptest::collection::vec(any::<u8>(), 0..64)],
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..8),
        max_depth in 0usize..6,
    ) {
        let limits = Limits::default().with_max_depth(max_depth).with_max_bulk_len(64);
        // The same frames, byte counts and error whether the input arrives whole or in pieces.
        let whole = run(&input, &[], limits);
        let pieces = run(&input, &cuts(&raw_cuts, input.len()), limits);
        prop_assert_eq!(&whole, &pieces);
        let every: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(&whole, &run(&input, &every, limits));
        // Frames + remaining account for every byte when no error cut the run short.
        if let Some(remaining) = whole.remaining {
            let total: usize = whole.frames.iter().map(|f| f.2).sum();
            prop_assert_eq!(total + whole.partial + remaining, input.len());
        }
    }
}

#[test]
fn top_level_push_is_routed() {
    let mut buf = BytesMut::from(&b">2\r\n+invalidate\r\n*1\r\n$3\r\nkey\r\n+OK\r\n"[..]);
    let mut d = Decoder::new();
    let push = d.decode(&mut buf).unwrap().unwrap();
    assert!(push.is_push());
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Some(Frame::Reply(Value::SimpleString("OK".into())))
    );
}
