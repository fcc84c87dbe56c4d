use bytes::{BufMut, BytesMut};

use super::*;

fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut b = BytesMut::new();
    f(&mut b);
    b.to_vec()
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn exact_bytes() {
    assert_eq!(
        enc(|b| startup([("user", "bob"), ("database", "db")], b).unwrap()),
        b"\0\0\0\x1e\0\x03\0\0user\0bob\0database\0db\0\0"
    );
    assert_eq!(enc(ssl_request), b"\0\0\0\x08\x04\xd2\x16\x2f");
    assert_eq!(
        enc(|b| cancel_request(7, 9, b)),
        b"\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x07\0\0\0\x09"
    );
    assert_eq!(
        enc(|b| password_message(b"pw", b).unwrap()),
        frame(b'p', b"pw\0")
    );
    assert_eq!(
        enc(|b| sasl_initial_response("SCRAM-SHA-256", b"n,,", b).unwrap()),
        frame(b'p', b"SCRAM-SHA-256\0\0\0\0\x03n,,")
    );
    assert_eq!(
        enc(|b| sasl_response(b"c=x", b).unwrap()),
        frame(b'p', b"c=x")
    );
    assert_eq!(
        enc(|b| query("SELECT 1", b).unwrap()),
        frame(b'Q', b"SELECT 1\0")
    );
    assert_eq!(
        enc(|b| parse("s1", "SELECT $1", [23], b).unwrap()),
        frame(b'P', b"s1\0SELECT $1\0\0\x01\0\0\0\x17")
    );
    assert_eq!(
        enc(|b| describe(Target::Statement, "s1", b).unwrap()),
        frame(b'D', b"Ss1\0")
    );
    assert_eq!(
        enc(|b| describe(Target::Portal, "", b).unwrap()),
        frame(b'D', b"P\0")
    );
    assert_eq!(
        enc(|b| execute("", 0, b).unwrap()),
        frame(b'E', b"\0\0\0\0\0")
    );
    assert_eq!(
        enc(|b| close(Target::Portal, "p", b).unwrap()),
        frame(b'C', b"Pp\0")
    );
    assert_eq!(enc(sync), frame(b'S', b""));
    assert_eq!(enc(flush), frame(b'H', b""));
    assert_eq!(enc(terminate), frame(b'X', b""));
    assert_eq!(enc(copy_done), frame(b'c', b""));
    assert_eq!(enc(|b| copy_data(b"1\n", b).unwrap()), frame(b'd', b"1\n"));
    assert_eq!(
        enc(|b| copy_fail("oops", b).unwrap()),
        frame(b'f', b"oops\0")
    );
}

#[test]
fn bind_bytes() {
    let params: [Option<&[u8]>; 3] = [Some(b"\0\0\0\x01"), None, Some(b"")];
    let got = enc(|b| {
        bind(
            "",
            "s1",
            [Format::Binary],
            params,
            |p, buf| {
                Ok::<_, std::convert::Infallible>(match p {
                    Some(v) => {
                        buf.put_slice(v);
                        IsNull::No
                    }
                    None => IsNull::Yes,
                })
            },
            [Format::Binary, Format::Text],
            b,
        )
        .unwrap()
    });
    let body =
        b"\0s1\0\0\x01\0\x01\0\x03\0\0\0\x04\0\0\0\x01\xff\xff\xff\xff\0\0\0\0\0\x02\0\x01\0\0";
    assert_eq!(got, frame(b'B', body));
}

/// Writes each param's bytes (`None`: NULL).
fn put_param(p: Option<&[u8]>, buf: &mut BytesMut) -> Result<IsNull, std::convert::Infallible> {
    Ok(match p {
        Some(v) => {
            buf.put_slice(v);
            IsNull::No
        }
        None => IsNull::Yes,
    })
}

/// All binary: one format code for all (the driver's hot path); one text parameter among
/// binary ones: one code per parameter, text (0) where it is.
#[test]
fn bind_param_format_codes() {
    let params: [Option<&[u8]>; 3] = [Some(b"\0\0\0\x01"), Some(b"(1,2)"), None];
    let all_binary = enc(|b| {
        bind(
            "",
            "",
            [Format::Binary],
            params,
            put_param,
            [Format::Binary],
            b,
        )
        .unwrap()
    });
    let body =
        b"\0\0\0\x01\0\x01\0\x03\0\0\0\x04\0\0\0\x01\0\0\0\x05(1,2)\xff\xff\xff\xff\0\x01\0\x01";
    assert_eq!(all_binary, frame(b'B', body));

    let formats = [Format::Binary, Format::Text, Format::Binary];
    let mixed = enc(|b| bind("", "", formats, params, put_param, [Format::Binary], b).unwrap());
    let body = b"\0\0\0\x03\0\x01\0\0\0\x01\0\x03\0\0\0\x04\0\0\0\x01\0\0\0\x05(1,2)\xff\xff\xff\xff\0\x01\0\x01";
    assert_eq!(mixed, frame(b'B', body));
}

#[test]
fn errors_leave_buffer_unchanged() {
    let mut b = BytesMut::new();
    sync(&mut b);
    let before = b.to_vec();
    assert_eq!(
        query("a\0b", &mut b),
        Err(EncodeError::ContainsNul("query"))
    );
    assert_eq!(
        startup([("", "x")], &mut b),
        Err(EncodeError::EmptyParameterName)
    );
    assert!(startup([("user", "a\0")], &mut b).is_err());
    assert!(parse("s\0", "x", [], &mut b).is_err());
    assert!(matches!(
        parse("s", "x", std::iter::repeat_n(0, 40_000), &mut b),
        Err(EncodeError::TooMany { count: 40_000, .. })
    ));
    assert_eq!(&b[..], &before[..]);

    let r = bind(
        "",
        "",
        [],
        std::iter::repeat_n((), 40_000),
        |(), _| Ok::<_, std::convert::Infallible>(IsNull::Yes),
        [],
        &mut b,
    );
    assert!(matches!(
        r,
        Err(BindError::Encode(EncodeError::TooMany { .. }))
    ));
    let r = bind(
        "",
        "",
        [],
        [1, 2, 3],
        |i, _| if i == 2 { Err("bad") } else { Ok(IsNull::Yes) },
        [],
        &mut b,
    );
    assert!(matches!(
        r,
        Err(BindError::Param {
            index: 1,
            source: "bad"
        })
    ));
    assert_eq!(&b[..], &before[..]);
}
