//! The sans-IO decoder alone: every reply kind, every split point of a reply stream, and the
//! malformed inputs that must be errors (never a panic, never a wait for claimed bytes).

use bytes::BytesMut;
use corelane_memcached::proto::{key_hash, Decoder, ErrorKind, Expect, ProtoError, Reply};

fn values(keys: usize, cas: bool) -> Expect {
    Expect::Values {
        keys,
        cas,
        key_hash: None,
    }
}

/// A stream of replies and the requests they answer.
fn script() -> (Vec<u8>, Vec<Expect>) {
    let mut wire = Vec::new();
    let mut expects = Vec::new();
    let mut add = |bytes: &[u8], expect: Expect| {
        wire.extend_from_slice(bytes);
        expects.push(expect);
    };
    add(
        b"VALUE a 5 3\r\nabc\r\nVALUE bb 0 8\r\nx\r\nEND\r\n\r\nEND\r\n",
        values(3, false),
    );
    add(
        b"END\r\n",
        Expect::Values {
            keys: 1,
            cas: false,
            key_hash: Some(key_hash(b"a")),
        },
    );
    add(b"VALUE a 1 0 77\r\n\r\nEND\r\n", values(1, true));
    add(b"STORED\r\n", Expect::Store);
    add(b"NOT_STORED\r\n", Expect::Store);
    add(b"EXISTS\r\n", Expect::Store);
    add(b"NOT_FOUND\r\n", Expect::Delete);
    add(b"DELETED\r\n", Expect::Delete);
    add(b"18446744073709551615\r\n", Expect::Arith);
    add(b"TOUCHED\r\n", Expect::Touch);
    add(b"VERSION 1.6.18\r\n", Expect::Version);
    add(b"OK\r\n", Expect::Ok);
    add(b"CLIENT_ERROR bad command line format\r\n", Expect::Store);
    add(b"ERROR\r\n", values(1, false));
    (wire, expects)
}

/// Decodes `wire` fed in `chunks`; returns the replies and the bytes left over.
fn decode_in_chunks(wire: &[u8], expects: &[Expect], chunks: &[usize]) -> (Vec<Reply>, usize) {
    let mut decoder = Decoder::default();
    let mut input = BytesMut::new();
    let mut replies = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().copied().cycle();
    while fed < wire.len() || !input.is_empty() {
        let n = sizes.next().unwrap().min(wire.len() - fed);
        input.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        while let Some(expect) = expects.get(replies.len()) {
            let before = input.len();
            match decoder.decode(expect, &mut input).unwrap() {
                Some(reply) => replies.push(reply),
                None => {
                    assert_eq!(input.len(), before, "Ok(None) consumed bytes");
                    break;
                }
            }
        }
        if n == 0 {
            break;
        }
    }
    (replies, input.len())
}

#[test]
fn every_reply_kind_decodes() {
    let (wire, expects) = script();
    let (replies, left) = decode_in_chunks(&wire, &expects, &[wire.len()]);
    assert_eq!(left, 0);
    assert_eq!(replies.len(), expects.len());
    let Reply::Values(items) = &replies[0] else {
        panic!("{:?}", replies[0])
    };
    assert_eq!(
        (&items[0].key[..], items[0].flags, &items[0].value[..]),
        (&b"a"[..], 5, &b"abc"[..])
    );
    assert_eq!(
        &items[1].value[..],
        b"x\r\nEND\r\n",
        "a value that looks like protocol"
    );
    assert_eq!(replies[1], Reply::Values(vec![]));
    let Reply::Values(items) = &replies[2] else {
        panic!()
    };
    assert_eq!((items[0].cas, items[0].value.len()), (Some(77), 0));
    assert_eq!(
        replies[3..8],
        [
            Reply::Stored,
            Reply::NotStored,
            Reply::Exists,
            Reply::NotFound,
            Reply::Deleted
        ]
    );
    assert_eq!(replies[8], Reply::Number(u64::MAX));
    assert_eq!(
        replies[9..11],
        [Reply::Touched, Reply::Version("1.6.18".into())]
    );
    assert_eq!(replies[11], Reply::Ok);
    let Reply::Error(e) = &replies[12] else {
        panic!()
    };
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Client, "bad command line format")
    );
    let Reply::Error(e) = &replies[13] else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::Error);
}

#[test]
fn every_split_point_gives_the_same_replies() {
    let (wire, expects) = script();
    let (whole, _) = decode_in_chunks(&wire, &expects, &[wire.len()]);
    for split in 0..=wire.len() {
        let (replies, left) = decode_in_chunks(&wire, &expects, &[split.max(1), wire.len()]);
        assert_eq!(
            (replies.as_slice(), left),
            (whole.as_slice(), 0),
            "split at {split}"
        );
    }
    for chunk in [1, 2, 3, 7] {
        let (replies, left) = decode_in_chunks(&wire, &expects, &[chunk]);
        assert_eq!(
            (replies.as_slice(), left),
            (whole.as_slice(), 0),
            "chunks of {chunk}"
        );
    }
}

fn error_of(expect: Expect, bytes: &[u8]) -> ProtoError {
    let mut input = BytesMut::from(bytes);
    match Decoder::new(1000).decode(&expect, &mut input) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn malformed_replies_are_errors() {
    let v = values(2, false);
    assert!(matches!(
        error_of(v, b"VALUE a 0 5000\r\n"),
        ProtoError::ValueTooLarge {
            claimed: 5000,
            limit: 1000
        }
    ));
    assert!(matches!(
        error_of(v, b"VALUE a 0 99999999999999999999999\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(v, b"VALUE a 0 1\r\nxy\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(v, b"VALUE a -1 1\r\nx\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(v, b"VALUE a 0 1 2 3\r\nx\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(values(1, true), b"VALUE a 0 1\r\nx\r\nEND\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(
            values(1, false),
            b"VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n"
        ),
        ProtoError::UnrequestedValue(_)
    ));
    let single = Expect::Values {
        keys: 1,
        cas: false,
        key_hash: Some(key_hash(b"a")),
    };
    assert!(matches!(
        error_of(single, b"VALUE b 0 1\r\nx\r\nEND\r\n"),
        ProtoError::UnrequestedValue(_)
    ));
    assert!(matches!(
        error_of(Expect::Store, b"DELETED\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(Expect::Arith, b"12a\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(Expect::Ok, b"OK\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(Expect::Ok, b"ERRORS\r\n"),
        ProtoError::Malformed(_)
    ));
    assert!(matches!(
        error_of(Expect::Ok, &[b'a'; 5000]),
        ProtoError::LineTooLong(_)
    ));
}

#[test]
fn a_claimed_value_waits_for_its_bytes_without_reserving_them() {
    let mut decoder = Decoder::default();
    let mut input = BytesMut::from(&b"VALUE a 0 1000000\r\n"[..]);
    let capacity = input.capacity();
    assert_eq!(decoder.decode(&values(1, false), &mut input), Ok(None));
    assert_eq!(
        input.capacity(),
        capacity,
        "the decoder reserved what the server claimed"
    );
}
