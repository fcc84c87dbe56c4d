use bytes::{Bytes, BytesMut};

use super::*;
use crate::write_attribute;

fn s(text: &'static str) -> Value {
    Value::SimpleString(Bytes::from_static(text.as_bytes()))
}

fn bulk(text: &'static str) -> Value {
    Value::BulkString(Bytes::from_static(text.as_bytes()))
}

fn reply(v: Value) -> Frame {
    Frame::Reply(v)
}

/// Decodes `input` fed in one piece; asserts nothing is left over.
fn one(input: &[u8]) -> Frame {
    let mut buf = BytesMut::from(input);
    let frame = Decoder::new().decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "left over: {:?}", buf);
    frame
}

fn err(input: &[u8]) -> DecodeError {
    err_with(Decoder::new(), input)
}

fn err_with(mut d: Decoder, input: &[u8]) -> DecodeError {
    let mut buf = BytesMut::from(input);
    loop {
        match d.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(input)),
            Err(e) => return e,
        }
    }
}

/// Every valid frame the split tests use, with what it decodes to.
fn corpus() -> Vec<(&'static [u8], Frame)> {
    vec![
        (b"+OK\r\n", reply(s("OK"))),
        (b"+\r\n", reply(s(""))),
        (
            b"-ERR unknown command\r\n",
            reply(Value::Error(ServerError::new("ERR unknown command"))),
        ),
        (b":0\r\n", reply(Value::Integer(0))),
        (b":-9223372036854775808\r\n", reply(Value::Integer(i64::MIN))),
        (b":9223372036854775807\r\n", reply(Value::Integer(i64::MAX))),
        (b":+12\r\n", reply(Value::Integer(12))),
        (b"$5\r\nhello\r\n", reply(bulk("hello"))),
        (b"$0\r\n\r\n", reply(bulk(""))),
        (b"$4\r\na\r\nb\r\n", reply(bulk("a\r\nb"))),
        (b"$-1\r\n", reply(Value::Null(NullKind::Bulk))),
        (b"*-1\r\n", reply(Value::Null(NullKind::Array))),
        (b"_\r\n", reply(Value::NULL)),
        (b"*0\r\n", reply(Value::Array(vec![]))),
        (
            b"*3\r\n:1\r\n$3\r\nfoo\r\n$-1\r\n",
            reply(Value::Array(vec![
                Value::Integer(1),
                bulk("foo"),
                Value::Null(NullKind::Bulk),
            ])),
        ),
        (
            b"*2\r\n*2\r\n+a\r\n*0\r\n*1\r\n*-1\r\n",
            reply(Value::Array(vec![
                Value::Array(vec![s("a"), Value::Array(vec![])]),
                Value::Array(vec![Value::Null(NullKind::Array)]),
            ])),
        ),
        (b"#t\r\n", reply(Value::Boolean(true))),
        (b"#f\r\n", reply(Value::Boolean(false))),
        (b",1.5\r\n", reply(Value::Double(1.5))),
        (b",1.5e10\r\n", reply(Value::Double(1.5e10))),
        (b",-0.25\r\n", reply(Value::Double(-0.25))),
        (b",inf\r\n", reply(Value::Double(f64::INFINITY))),
        (b",-inf\r\n", reply(Value::Double(f64::NEG_INFINITY))),
        (
            b"(3492890328409238509324850943850943825024385\r\n",
            reply(Value::BigNumber(Bytes::from_static(
                b"3492890328409238509324850943850943825024385",
            ))),
        ),
        (b"(-1\r\n", reply(Value::BigNumber(Bytes::from_static(b"-1")))),
        (
            b"!21\r\nSYNTAX invalid syntax\r\n",
            reply(Value::BlobError(ServerError::new("SYNTAX invalid syntax"))),
        ),
        (
            b"=15\r\ntxt:Some string\r\n",
            reply(Value::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"Some string"),
            }),
        ),
        (
            b"=4\r\nmkd:\r\n",
            reply(Value::Verbatim {
                format: *b"mkd",
                text: Bytes::new(),
            }),
        ),
        (
            b"%2\r\n+first\r\n:1\r\n+second\r\n%0\r\n",
            reply(Value::Map(vec![
                (s("first"), Value::Integer(1)),
                (s("second"), Value::Map(vec![])),
            ])),
        ),
        (
            b"~3\r\n+a\r\n:1\r\n#f\r\n",
            reply(Value::Set(vec![s("a"), Value::Integer(1), Value::Boolean(false)])),
        ),
        (
            b">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n",
            Frame::Push(vec![s("message"), s("chan"), bulk("hi")]),
        ),
        (b">0\r\n", Frame::Push(vec![])),
        (
            b"*1\r\n>1\r\n:1\r\n",
            reply(Value::Array(vec![Value::Push(vec![Value::Integer(1)])])),
        ),
        // Attributes: before a top-level reply, before an element, nested, empty.
        (
            b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
            reply(Value::Array(vec![Value::Integer(2039123), Value::Integer(9543892)])),
        ),
        (
            b"*2\r\n|1\r\n+ttl\r\n:3\r\n:1\r\n:2\r\n",
            reply(Value::Array(vec![Value::Integer(1), Value::Integer(2)])),
        ),
        (
            b"|1\r\n|0\r\n+k\r\n*1\r\n|0\r\n:5\r\n+v\r\n",
            reply(s("v")),
        ),
        (b"|0\r\n>1\r\n+x\r\n", Frame::Push(vec![s("x")])),
        (
            b"%1\r\n|1\r\n+a\r\n+b\r\n+k\r\n|1\r\n+a\r\n+b\r\n+v\r\n",
            reply(Value::Map(vec![(s("k"), s("v"))])),
        ),
    ]
}

#[test]
fn every_type_in_one_piece() {
    for (input, expected) in corpus() {
        assert_eq!(one(input), expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn nan_double() {
    let Frame::Reply(Value::Double(d)) = one(b",nan\r\n") else {
        panic!("not a double")
    };
    assert!(d.is_nan());
    assert!(matches!(one(b",-nan\r\n"), Frame::Reply(Value::Double(d)) if d.is_nan()));
}

/// Feeds `input` in the given pieces to one decoder and checks the consumption contract after
/// every call. Returns the frames with the number of bytes each one consumed.
fn feed(input: &[u8], cuts: &[usize]) -> Result<Vec<(Frame, usize)>, DecodeError> {
    let mut d = Decoder::new();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut consumed = 0;
    let mut frame_start = 0;
    let mut frames = Vec::new();
    let mut bounds: Vec<usize> = cuts.to_vec();
    bounds.push(input.len());
    for &end in &bounds {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            let before = buf.len();
            let out = d.decode(&mut buf)?;
            consumed += before - buf.len();
            assert_eq!(consumed + buf.len(), fed, "consumed + remaining == fed");
            // What is left is always a suffix of what was fed.
            assert_eq!(&buf[..], &input[consumed..fed]);
            match out {
                Some(frame) => {
                    frames.push((frame, consumed - frame_start));
                    frame_start = consumed;
                }
                None => break,
            }
        }
    }
    Ok(frames)
}

#[test]
fn split_at_every_offset_and_byte_by_byte() {
    // Each frame alone, then all frames back to back (a pipeline).
    let mut all = Vec::new();
    let mut expected_all = Vec::new();
    for (input, expected) in corpus() {
        all.extend_from_slice(input);
        expected_all.push((expected.clone(), input.len()));
        let expected = vec![(expected, input.len())];
        for cut in 0..=input.len() {
            assert_eq!(feed(input, &[cut]).unwrap(), expected, "cut at {cut}");
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(feed(input, &every).unwrap(), expected, "byte by byte");
    }
    for cut in 0..=all.len() {
        assert_eq!(
            feed(&all, &[cut]).unwrap(),
            expected_all,
            "pipeline cut at {cut}"
        );
    }
    let every: Vec<usize> = (1..all.len()).collect();
    assert_eq!(
        feed(&all, &every).unwrap(),
        expected_all,
        "pipeline byte by byte"
    );
}

#[test]
fn bulk_payload_is_zero_copy() {
    let mut buf = BytesMut::from(&b"$5\r\nhello\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let Some(Frame::Reply(Value::BulkString(b))) = Decoder::new().decode(&mut buf).unwrap() else {
        panic!("not a bulk")
    };
    assert_eq!(b.as_ptr() as usize, base + 4);
}

#[test]
fn large_array_in_small_reads_is_consumed_as_it_arrives() {
    // 1 MB of `$10\r\n0123456789\r\n` elements arriving in 4 KiB reads: after every read the
    // decoder has taken every complete element, so at most one partial element stays behind
    // and nothing is parsed twice.
    let n = 1 << 16;
    let mut input = BytesMut::new();
    crate::wire::put_header(&mut input, b'*', n);
    for _ in 0..n {
        input.extend_from_slice(b"$10\r\n0123456789\r\n");
    }
    let mut d = Decoder::new();
    let mut buf = BytesMut::new();
    let mut result = None;
    for chunk in input.chunks(4096) {
        buf.extend_from_slice(chunk);
        result = d.decode(&mut buf).unwrap();
        assert!(buf.len() < 17, "left {} bytes unparsed", buf.len());
        if result.is_some() {
            break;
        }
        assert!(d.in_progress());
    }
    let Some(Frame::Reply(Value::Array(items))) = result else {
        panic!("no array")
    };
    assert_eq!(items.len(), n);
    assert!(!d.in_progress());
}

#[test]
fn long_line_in_small_reads_is_scanned_once() {
    let mut d = Decoder::new();
    let mut buf = BytesMut::from(&b"+"[..]);
    for _ in 0..1000 {
        buf.extend_from_slice(b"abcdefgh");
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(d.scanned, buf.len());
    }
    buf.extend_from_slice(b"\r");
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\n");
    let Some(Frame::Reply(Value::SimpleString(text))) = d.decode(&mut buf).unwrap() else {
        panic!("no string")
    };
    assert_eq!(text.len(), 8000);
    assert_eq!(d.scanned, 0);
}

#[test]
fn bulk_claiming_4_gib_allocates_nothing() {
    let input = b"$4294967296\r\n0123456789";
    // Within a raised limit: waits for the payload without reserving anything.
    let limits = Limits::default().with_max_bulk_len(8 << 30);
    let mut d = Decoder::with_limits(limits);
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(input);
    let cap = buf.capacity();
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    // Only the 13-byte header was consumed (advancing shrinks capacity); nothing reserved.
    assert_eq!(buf.capacity(), cap - 13);
    assert_eq!(&buf[..], b"0123456789");
    assert_eq!(d.buffered_capacity(), 0);
    assert!(d.in_progress());
    // With the default 512 MiB limit: a typed error at the header.
    assert_eq!(
        err(input),
        DecodeError::BulkTooLong {
            len: 4_294_967_296,
            max: Limits::DEFAULT_MAX_BULK_LEN
        }
    );
}

#[test]
fn huge_aggregate_counts_preallocate_only_what_arrived() {
    // The largest counts a limit may allow (the default is lower).
    let mut d = Decoder::with_limits(Limits::default().with_max_aggregate_len(u32::MAX as usize));
    let mut buf = BytesMut::from(&b"*4294967295\r\n%4294967295\r\n~100\r\n:1\r\n"[..]);
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    // Each aggregate preallocates at most one element per 3 bytes received after its header:
    // 23 / 3 for the array, (10 / 6) pairs for the map, 4 / 3 for the set.
    assert_eq!(d.stack.len(), 3);
    assert_eq!(d.buffered_capacity(), 7 + 1 + 1);
    assert_eq!(
        err(b"*4294967296\r\n"),
        DecodeError::AggregateTooLong {
            len: 4_294_967_296,
            max: Limits::DEFAULT_MAX_AGGREGATE_LEN
        }
    );
    // The default is sane (millions, not billions), and checked at MAX-1, MAX and MAX+1.
    let max = Limits::DEFAULT_MAX_AGGREGATE_LEN;
    assert!((1_000_000..=100_000_000).contains(&max), "{max}");
    for ty in [b'*', b'~', b'>', b'%'] {
        for len in [max - 1, max] {
            let mut d = Decoder::new();
            let mut buf = BytesMut::from(format!("{}{len}\r\n", ty as char).as_bytes());
            assert_eq!(d.decode(&mut buf), Ok(None), "{} {len}", ty as char);
        }
        let over = format!("{}{}\r\n", ty as char, max + 1);
        assert_eq!(
            err(over.as_bytes()),
            DecodeError::AggregateTooLong {
                len: max as u64 + 1,
                max
            }
        );
    }
    // A configured limit: a complete frame of exactly MAX elements decodes, MAX+1 does not.
    let three = Limits::default().with_max_aggregate_len(3);
    let mut buf = BytesMut::from(&b"*3\r\n:1\r\n:2\r\n:3\r\n"[..]);
    assert!(matches!(
        Decoder::with_limits(three).decode(&mut buf),
        Ok(Some(_))
    ));
    assert_eq!(
        err_with(Decoder::with_limits(three), b"*4\r\n"),
        DecodeError::AggregateTooLong { len: 4, max: 3 }
    );
    let limits = Limits::default().with_max_aggregate_len(2);
    assert_eq!(
        err_with(Decoder::with_limits(limits), b"*2\r\n:1\r\n:2\r\n~3\r\n"),
        DecodeError::AggregateTooLong { len: 3, max: 2 }
    );
    assert_eq!(
        err_with(Decoder::with_limits(limits), b"%3\r\n"),
        DecodeError::AggregateTooLong { len: 3, max: 2 }
    );
}

fn nested(depth: usize) -> Vec<u8> {
    let mut input = b"*1\r\n".repeat(depth);
    input.extend_from_slice(b":7\r\n");
    input
}

fn unnest(mut v: Value) -> (usize, Value) {
    let mut depth = 0;
    while let Value::Array(mut items) = v {
        assert_eq!(items.len(), 1);
        v = items.pop().unwrap();
        depth += 1;
    }
    (depth, v)
}

#[test]
fn depth_limit_at_max_minus_one_max_and_max_plus_one() {
    let max = Limits::DEFAULT_MAX_DEPTH;
    for depth in [max - 1, max] {
        let Frame::Reply(v) = one(&nested(depth)) else {
            panic!("push")
        };
        assert_eq!(unnest(v), (depth, Value::Integer(7)));
    }
    assert_eq!(err(&nested(max + 1)), DecodeError::TooDeep { max });
    // Empty aggregates and attributes count as levels too.
    let mut at_max = b"*1\r\n".repeat(max);
    at_max.extend_from_slice(b"*0\r\n");
    assert_eq!(err(&at_max), DecodeError::TooDeep { max });
    let mut attr = b"*1\r\n".repeat(max);
    attr.extend_from_slice(b"|0\r\n:1\r\n");
    assert_eq!(err(&attr), DecodeError::TooDeep { max });
    // A configured limit.
    let mut limits = Limits::default().with_max_depth(3);
    let mut buf = BytesMut::from(&nested(3)[..]);
    assert!(Decoder::with_limits(limits)
        .decode(&mut buf)
        .unwrap()
        .is_some());
    assert_eq!(
        err_with(Decoder::with_limits(limits), &nested(4)),
        DecodeError::TooDeep { max: 3 }
    );
    limits = limits.with_max_depth(0);
    assert_eq!(
        err_with(Decoder::with_limits(limits), b"*0\r\n"),
        DecodeError::TooDeep { max: 0 }
    );
}

#[test]
fn malformed_input_is_a_typed_error() {
    use DecodeError::*;
    let cases: &[(&[u8], DecodeError)] = &[
        (b"?\r\n", InvalidTypeByte(b'?')),
        (b"\r\n", InvalidTypeByte(b'\r')),
        (b"*1\r\nx", InvalidTypeByte(b'x')),
        (b"+OK\n", MissingCrlf),
        (b"+OK\rX", MissingCrlf),
        (b"$3\r\nabcd\r\n", MissingCrlf),
        (b"$3\r\nab\r\n\r\n", MissingCrlf),
        (b":12a\r\n", InvalidInteger),
        (b":\r\n", InvalidInteger),
        (b":9223372036854775808\r\n", InvalidInteger),
        (b":-9223372036854775809\r\n", InvalidInteger),
        (b"$-2\r\n", InvalidLength),
        (b"$?\r\n", InvalidLength),
        (b"*?\r\n", InvalidLength),
        (b"$1a\r\n", InvalidLength),
        (b"$\r\n", InvalidLength),
        (b"%-1\r\n", InvalidLength),
        (b"!-1\r\n", InvalidLength),
        (b"*99999999999999999999\r\n", InvalidLength),
        (b",abc\r\n", InvalidDouble),
        (b",\r\n", InvalidDouble),
        (b"#x\r\n", InvalidBoolean),
        (b"#tt\r\n", InvalidBoolean),
        (b"_x\r\n", InvalidNull),
        (b"(12x\r\n", InvalidBigNumber),
        (b"(\r\n", InvalidBigNumber),
        (b"=3\r\ntxt\r\n", InvalidVerbatim),
        (b"=5\r\ntxt!x\r\n", InvalidVerbatim),
        (
            b":11111111111111111111111111111111111111111111111111111111111111111",
            LineTooLong { max: 64 },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            &err(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let limits = Limits::default().with_max_bulk_len(4);
    assert_eq!(
        err_with(Decoder::with_limits(limits), b"+hello"),
        LineTooLong { max: 4 }
    );
    assert_eq!(
        err_with(Decoder::with_limits(limits), b"$5\r\n"),
        BulkTooLong { len: 5, max: 4 }
    );
}

#[test]
fn errors_are_sticky_until_reset() {
    let mut d = Decoder::new();
    let mut buf = BytesMut::from(&b"*2\r\n:1\r\n?"[..]);
    assert_eq!(d.decode(&mut buf), Err(DecodeError::InvalidTypeByte(b'?')));
    let mut fresh = BytesMut::from(&b"+OK\r\n"[..]);
    assert_eq!(
        d.decode(&mut fresh),
        Err(DecodeError::InvalidTypeByte(b'?'))
    );
    assert_eq!(fresh.len(), 5);
    d.reset();
    assert_eq!(d.decode(&mut fresh).unwrap(), Some(reply(s("OK"))));
}

#[test]
fn in_progress_reports_a_cut_frame() {
    let mut d = Decoder::new();
    let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
    assert!(!d.in_progress());
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    assert!(d.in_progress());
    assert!(buf.is_empty());
    buf.extend_from_slice(b":2\r\n");
    assert!(d.decode(&mut buf).unwrap().is_some());
    assert!(!d.in_progress());
    // A top-level attribute is consumed and counts as a partial frame.
    let mut attr = BytesMut::from(&b"|1\r\n+a\r\n+b\r\n"[..]);
    assert_eq!(d.decode(&mut attr).unwrap(), None);
    assert!(attr.is_empty());
    assert!(d.in_progress());
    assert_eq!(d.partial_len(), 12);
    attr.extend_from_slice(b":1\r\n");
    assert_eq!(d.decode(&mut attr).unwrap(), Some(reply(Value::Integer(1))));
    assert!(!d.in_progress());
    // An incomplete line is left in the buffer, not consumed.
    let mut line = BytesMut::from(&b"+O"[..]);
    assert_eq!(d.decode(&mut line).unwrap(), None);
    assert!(!d.in_progress());
    assert_eq!(&line[..], b"+O");
}

#[test]
fn encoded_values_decode_back() {
    let mut out = BytesMut::new();
    write_attribute(&mut out, &[(s("a"), Value::Double(0.5))]);
    let v = Value::Map(vec![
        (bulk("k"), Value::Set(vec![Value::BigNumber("123".into())])),
        (Value::Integer(-1), Value::Null(NullKind::Array)),
    ]);
    v.write_to(&mut out);
    assert_eq!(one(&out), reply(v));
}
