use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::message::frontend::Format;
use crate::sqlstate::SqlState;

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn parse_all(bytes: &[u8]) -> Result<Option<Message>, Error> {
    let mut buf = BytesMut::from(bytes);
    let m = Message::parse(&mut buf);
    if let Ok(Some(_)) = m {
        assert!(buf.is_empty(), "one message consumed exactly");
    }
    m
}

fn row_description() -> Vec<u8> {
    let mut b = vec![0, 2];
    for (name, oid, fmt) in [(&b"id"[..], 23u32, 1i16), (&b"name"[..], 25, 0)] {
        b.extend_from_slice(name);
        b.push(0);
        b.extend_from_slice(&16384u32.to_be_bytes());
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&oid.to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&fmt.to_be_bytes());
    }
    frame(b'T', &b)
}

fn data_row() -> Vec<u8> {
    let mut b = vec![0, 3];
    b.extend_from_slice(&4i32.to_be_bytes());
    b.extend_from_slice(&42i32.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    frame(b'D', &b)
}

fn error_body() -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in [
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "23505"),
        (b'M', "duplicate key"),
        (b'D', "Key (id)=(1) already exists."),
        (b'H', "hint"),
        (b'P', "12"),
        (b'p', "3"),
        (b'q', "select 1"),
        (b'W', "where"),
        (b's', "public"),
        (b't', "t"),
        (b'c', "id"),
        (b'd', "int4"),
        (b'n', "t_pkey"),
        (b'F', "nbtinsert.c"),
        (b'L', "664"),
        (b'R', "_bt_check_unique"),
        (b'Z', "unknown field is ignored"),
    ] {
        b.push(k);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b.push(0);
    b
}

/// One frame of every backend message type, with the expected parse.
fn samples() -> Vec<(Vec<u8>, Message)> {
    let mut sasl = 10i32.to_be_bytes().to_vec();
    sasl.extend_from_slice(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
    let mut md5 = 5i32.to_be_bytes().to_vec();
    md5.extend_from_slice(&[1, 2, 3, 4]);
    let mut cont = 11i32.to_be_bytes().to_vec();
    cont.extend_from_slice(b"r=abc,s=xyz,i=4096");
    let mut fin = 12i32.to_be_bytes().to_vec();
    fin.extend_from_slice(b"v=sig");
    let mut key = 1234i32.to_be_bytes().to_vec();
    key.extend_from_slice(&5678i32.to_be_bytes());
    let mut notify = 99i32.to_be_bytes().to_vec();
    notify.extend_from_slice(b"chan\0payload\0");
    let mut pdesc = vec![0, 2];
    pdesc.extend_from_slice(&23u32.to_be_bytes());
    pdesc.extend_from_slice(&25u32.to_be_bytes());
    let mut npv = 0i32.to_be_bytes().to_vec();
    npv.extend_from_slice(&1i32.to_be_bytes());
    npv.extend_from_slice(b"_pq_.x\0");
    let mut fcr = 2i32.to_be_bytes().to_vec();
    fcr.extend_from_slice(b"hi");
    let s = |v: &'static str| BytesStr::from_utf8(Bytes::from_static(v.as_bytes())).unwrap();
    let err = ErrorFields {
        severity: "ERROR".into(),
        severity_nonlocalized: Some("ERROR".into()),
        code: SqlState::UNIQUE_VIOLATION,
        message: "duplicate key".into(),
        detail: Some("Key (id)=(1) already exists.".into()),
        hint: Some("hint".into()),
        position: Some(12),
        internal_position: Some(3),
        internal_query: Some("select 1".into()),
        where_: Some("where".into()),
        schema: Some("public".into()),
        table: Some("t".into()),
        column: Some("id".into()),
        datatype: Some("int4".into()),
        constraint: Some("t_pkey".into()),
        file: Some("nbtinsert.c".into()),
        line: Some(664),
        routine: Some("_bt_check_unique".into()),
    };
    let copy = CopyResponse {
        format: Format::Binary,
        column_formats: vec![Format::Binary, Format::Binary],
    };
    let copy_body = [1u8, 0, 2, 0, 1, 0, 1];
    let row = Message::parse(&mut BytesMut::from(&data_row()[..]))
        .unwrap()
        .unwrap();
    let rd = Message::parse(&mut BytesMut::from(&row_description()[..]))
        .unwrap()
        .unwrap();
    vec![
        (
            frame(b'R', &0i32.to_be_bytes()),
            Message::Authentication(Authentication::Ok),
        ),
        (
            frame(b'R', &3i32.to_be_bytes()),
            Message::Authentication(Authentication::CleartextPassword),
        ),
        (
            frame(b'R', &md5),
            Message::Authentication(Authentication::Md5Password { salt: [1, 2, 3, 4] }),
        ),
        (
            frame(b'R', &sasl),
            Message::Authentication(Authentication::Sasl {
                mechanisms: vec![s("SCRAM-SHA-256-PLUS"), s("SCRAM-SHA-256")],
            }),
        ),
        (
            frame(b'R', &cont),
            Message::Authentication(Authentication::SaslContinue(Bytes::from_static(
                b"r=abc,s=xyz,i=4096",
            ))),
        ),
        (
            frame(b'R', &fin),
            Message::Authentication(Authentication::SaslFinal(Bytes::from_static(b"v=sig"))),
        ),
        (
            frame(b'R', &7i32.to_be_bytes()),
            Message::Authentication(Authentication::Gss),
        ),
        (
            frame(b'K', &key),
            Message::BackendKeyData(BackendKeyData {
                process_id: 1234,
                secret_key: 5678,
            }),
        ),
        (frame(b'2', b""), Message::BindComplete),
        (frame(b'3', b""), Message::CloseComplete),
        (
            frame(b'C', b"INSERT 0 5\0"),
            Message::CommandComplete(CommandComplete {
                tag: s("INSERT 0 5"),
            }),
        ),
        (
            frame(b'd', b"1\t2\n"),
            Message::CopyData(Bytes::from_static(b"1\t2\n")),
        ),
        (frame(b'c', b""), Message::CopyDone),
        (
            frame(b'G', &copy_body),
            Message::CopyInResponse(copy.clone()),
        ),
        (
            frame(b'H', &copy_body),
            Message::CopyOutResponse(copy.clone()),
        ),
        (frame(b'W', &copy_body), Message::CopyBothResponse(copy)),
        (data_row(), row),
        (frame(b'I', b""), Message::EmptyQueryResponse),
        (
            frame(b'E', &error_body()),
            Message::ErrorResponse(Box::new(err.clone())),
        ),
        (
            frame(b'N', &error_body()),
            Message::NoticeResponse(Box::new(err)),
        ),
        (
            frame(b'V', &fcr),
            Message::FunctionCallResponse(Some(Bytes::from_static(b"hi"))),
        ),
        (
            frame(b'V', &(-1i32).to_be_bytes()),
            Message::FunctionCallResponse(None),
        ),
        (
            frame(b'v', &npv),
            Message::NegotiateProtocolVersion(NegotiateProtocolVersion {
                newest_minor: 0,
                unrecognized: vec![s("_pq_.x")],
            }),
        ),
        (frame(b'n', b""), Message::NoData),
        (
            frame(b'A', &notify),
            Message::NotificationResponse(Notification {
                process_id: 99,
                channel: s("chan"),
                payload: s("payload"),
            }),
        ),
        (
            frame(b't', &pdesc),
            Message::ParameterDescription(ParameterDescription {
                types: vec![23, 25],
            }),
        ),
        (
            frame(b'S', b"TimeZone\0UTC\0"),
            Message::ParameterStatus(ParameterStatus {
                name: s("TimeZone"),
                value: s("UTC"),
            }),
        ),
        (frame(b'1', b""), Message::ParseComplete),
        (frame(b's', b""), Message::PortalSuspended),
        (
            frame(b'Z', b"I"),
            Message::ReadyForQuery(TransactionStatus::Idle),
        ),
        (
            frame(b'Z', b"T"),
            Message::ReadyForQuery(TransactionStatus::InTransaction),
        ),
        (
            frame(b'Z', b"E"),
            Message::ReadyForQuery(TransactionStatus::Failed),
        ),
        (row_description(), rd),
    ]
}

#[test]
fn every_message_parses() {
    for (bytes, expected) in samples() {
        assert_eq!(parse_all(&bytes).unwrap(), Some(expected), "{bytes:?}");
    }
}

#[test]
fn every_message_split_at_every_offset() {
    for (bytes, expected) in samples() {
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(Message::parse(&mut buf).unwrap(), None, "prefix {i}");
            assert_eq!(buf.len(), i, "nothing consumed");
            if i >= 5 {
                let h = Header::parse(&buf).unwrap().unwrap();
                assert_eq!(h.frame_len(), bytes.len());
                assert_eq!(h.tag(), bytes[0]);
            }
            buf.put_u8(*b);
        }
        // Followed by the start of the next message: still exactly one consumed.
        buf.put_slice(b"Z\0");
        assert_eq!(Message::parse(&mut buf).unwrap(), Some(expected));
        assert_eq!(&buf[..], b"Z\0");
    }
}

#[test]
fn details() {
    let Some(Message::DataRow(row)) = parse_all(&data_row()).unwrap() else {
        panic!()
    };
    assert_eq!(row.len(), 3);
    assert_eq!(row.get(0), Some(Some(&42i32.to_be_bytes()[..])));
    assert_eq!(row.get(1), Some(None));
    assert_eq!(row.get(2), Some(Some(&b""[..])));
    assert_eq!(row.get(3), None);
    assert_eq!(row.get_bytes(0).unwrap().unwrap(), &42i32.to_be_bytes()[..]);
    assert_eq!(row.iter().filter(Option::is_none).count(), 1);

    let Some(Message::RowDescription(rd)) = parse_all(&row_description()).unwrap() else {
        panic!()
    };
    assert_eq!(rd.fields[1].name, "name");
    assert_eq!(rd.fields[0].type_oid, 23);
    assert_eq!(rd.fields[0].format, Format::Binary);
    assert_eq!(rd.fields[0].table_oid, 16384);

    let cc = CommandComplete {
        tag: BytesStr::from_utf8(Bytes::from_static(b"INSERT 0 5")).unwrap(),
    };
    assert_eq!(cc.rows(), Some(5));
    let key = BackendKeyData {
        process_id: 1,
        secret_key: 987654,
    };
    assert!(!format!("{key:?}").contains("987654"));
}

#[test]
fn length_checks() {
    // A length below 4.
    for len in [0i32, 3, -1, i32::MIN] {
        let mut b = vec![b'Z'];
        b.extend_from_slice(&len.to_be_bytes());
        assert!(matches!(
            Message::parse(&mut BytesMut::from(&b[..])),
            Err(Error::LengthTooSmall { .. })
        ));
    }
    // A message claiming 1 GiB with 10 bytes present: None, no allocation from the claim.
    let mut b = vec![b'D'];
    b.extend_from_slice(&(1i32 << 30).to_be_bytes());
    b.extend_from_slice(&[0; 5]);
    let mut buf = BytesMut::from(&b[..]);
    let cap = buf.capacity();
    assert_eq!(Message::parse_with_max(&mut buf, 2 << 30).unwrap(), None);
    assert_eq!(buf.len(), 10);
    assert_eq!(buf.capacity(), cap, "no reserve from the claimed length");
    // Over the default maximum: a typed error.
    assert!(matches!(
        Message::parse(&mut buf),
        Err(Error::MessageTooLarge { len, .. }) if len == 1 << 30
    ));
    // Exactly at the maximum is allowed.
    let mut b = vec![b'd'];
    b.extend_from_slice(&8i32.to_be_bytes());
    b.extend_from_slice(b"abcd");
    assert!(Message::parse_with_max(&mut BytesMut::from(&b[..]), 8)
        .unwrap()
        .is_some());
    assert!(Message::parse_with_max(&mut BytesMut::from(&b[..]), 7).is_err());
}

#[test]
fn malformed_bodies_are_errors() {
    let cases: Vec<Vec<u8>> = vec![
        frame(b'Q', b""),                             // unknown tag (frontend type)
        frame(b'Z', b"X"),                            // bad status
        frame(b'Z', b"II"),                           // trailing
        frame(b'Z', b""),                             // short
        frame(b'C', b"SELECT 1"),                     // missing NUL
        frame(b'S', b"a\0b"),                         // missing NUL in value
        frame(b'D', &[0, 1]),                         // count exceeds body
        frame(b'D', &[0xff, 0xff]),                   // negative count
        frame(b'D', &[0, 1, 0, 0, 0, 9, 1]),          // column longer than body
        frame(b'D', &[0, 1, 0xff, 0xff, 0xff, 0xfe]), // length -2
        frame(b'D', &[0, 5, 0, 0, 0, 0, 0, 0, 0, 0]), // wide row: count exceeds body
        frame(b'T', &[0, 100]),                       // count exceeds body
        frame(b't', &[0, 3, 0, 0, 0, 23]),            // count exceeds body
        frame(b'R', &99i32.to_be_bytes()),            // unknown auth
        frame(b'R', &[0, 0, 0, 5, 1]),                // short salt
        frame(b'R', &[0, 0, 0, 10, b'x']),            // unterminated mechanism
        frame(b'E', b"Mmsg\0\0"),                     // missing S and C
        frame(b'E', b"SERROR\0C12\0Mm\0\0"),          // bad sqlstate
        frame(b'E', b"SERROR\0C12345\0Mm\0Pxx\0\0"),  // bad position
        frame(b'E', b"SERROR\0C12345\0Mm\0"),         // no terminator
        frame(b'A', &[0, 0, 0, 1, b'c', 0]),          // missing payload
        frame(b'G', &[2, 0, 0]),                      // bad format
        frame(b'G', &[0, 0, 1, 0, 7]),                // bad column format
        frame(b'v', &[0, 0, 0, 0, 0x7f, 0, 0, 0]),    // option count exceeds body
        frame(b'V', &[0, 0, 0, 9]),                   // value longer than body
        frame(b'S', b"\xff\0x\0"),                    // invalid UTF-8
        frame(b'1', b"x"),                            // trailing on empty message
    ];
    for c in cases {
        assert!(parse_all(&c).is_err(), "{c:?}");
    }
}

/// A DataRow body holding `values` (`None` for NULL).
fn data_row_of(values: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut b = (values.len() as i16).to_be_bytes().to_vec();
    for v in values {
        match v {
            Some(v) => {
                b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                b.extend_from_slice(v);
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    frame(b'D', &b)
}

#[test]
fn data_rows_inline_and_wide() {
    // 0..=4 columns are kept inline, 5 and more on the heap: both read the same.
    for n in 0..10usize {
        let values: Vec<Option<Vec<u8>>> = (0..n)
            .map(|i| (i % 3 != 1).then(|| vec![i as u8; i]))
            .collect();
        let Some(Message::DataRow(row)) = parse_all(&data_row_of(&values)).unwrap() else {
            panic!("{n} columns")
        };
        assert_eq!(row.len(), n);
        assert_eq!(row.is_empty(), n == 0);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(row.get(i), Some(v.as_deref()), "column {i} of {n}");
            assert_eq!(row.get_bytes(i).unwrap().as_deref(), v.as_deref());
        }
        assert_eq!(row.get(n), None);
        assert_eq!(row.get_bytes(n), None);
        assert!(row.iter().eq(values.iter().map(|v| v.as_deref())));
        assert_eq!(row.clone(), row);
        // Debug lists the columns in use only (a range each, or `None` for NULL).
        let debug = format!("{row:?}");
        assert_eq!(
            debug.matches("..").count() + debug.matches("None").count(),
            n
        );
    }
}

proptest! {
    #[test]
    fn data_rows_match_their_values(values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)), 0..12)) {
        let Some(Message::DataRow(row)) = parse_all(&data_row_of(&values)).unwrap() else {
            panic!("not a DataRow")
        };
        prop_assert_eq!(row.len(), values.len());
        prop_assert!(row.iter().eq(values.iter().map(|v| v.as_deref())));
        for (i, v) in values.iter().enumerate() {
            prop_assert_eq!(row.get(i), Some(v.as_deref()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut buf = BytesMut::from(&data[..]);
        loop {
            let before = buf.len();
            match Message::parse_with_max(&mut buf, 1 << 16) {
                Ok(Some(_)) => {
                    let consumed = before - buf.len();
                    prop_assert!(consumed >= 5);
                    prop_assert_eq!(&data[data.len() - before + consumed..], &buf[..]);
                }
                Ok(None) => {
                    prop_assert_eq!(before, buf.len());
                    break;
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn valid_streams_split_anywhere(picks in proptest::collection::vec(0usize..40, 1..8), split in any::<prop::sample::Index>()) {
        let all = samples();
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for p in picks {
            let (b, m) = &all[p % all.len()];
            stream.extend_from_slice(b);
            expected.push(m.clone());
        }
        let cut = split.index(stream.len() + 1);
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut got = Vec::new();
        while let Some(m) = Message::parse(&mut buf).unwrap() {
            got.push(m);
        }
        buf.put_slice(&stream[cut..]);
        while let Some(m) = Message::parse(&mut buf).unwrap() {
            got.push(m);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, expected);
    }
}
