//! The handshake driven by scripted replies (RESP bytes, decoded as a client would).

use bytes::BytesMut;

use super::*;
use crate::{Decoder, Frame};

const PASSWORD: &str = "s3cret-pass";

/// Decodes one scripted reply.
fn reply(bytes: &[u8]) -> Value {
    let mut input = BytesMut::from(bytes);
    match Decoder::new().decode(&mut input).unwrap() {
        Some(Frame::Reply(value)) => {
            assert!(input.is_empty());
            value
        }
        other => panic!("not one reply: {other:?}"),
    }
}

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_command(&mut out, args);
    out.to_vec()
}

const OK: &[u8] = b"+OK\r\n";

/// A Redis 7 `HELLO 3` reply.
const HELLO_REPLY: &[u8] = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:42\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";

/// Runs `hello` against scripted replies: returns the outcome and each command the client
/// sent, in order.
fn drive(mut hello: Hello, replies: &[&[u8]]) -> (Result<Negotiated, HelloError>, Vec<Vec<u8>>) {
    let mut out = BytesMut::new();
    let mut sent = Vec::new();
    let mut progress = hello.start(&mut out).unwrap();
    let mut replies = replies.iter();
    loop {
        match progress {
            Progress::Done(done) => {
                assert!(hello.is_over());
                assert!(replies.next().is_none(), "replies left over");
                return (Ok(done), sent);
            }
            Progress::Continue => {
                sent.push(out.to_vec());
                out.clear();
                let next = replies.next().expect("the script ran out");
                progress = match hello.step(reply(next), &mut out) {
                    Ok(p) => p,
                    Err(e) => return (Err(e), sent),
                };
            }
        }
    }
}

#[test]
fn resp3_with_everything_in_hello() {
    let hello = Hello::new(Protocol::Resp3)
        .auth(Some("app"), PASSWORD)
        .client_name("worker-1")
        .db(3);
    let (result, sent) = drive(hello, &[HELLO_REPLY, OK]);
    let done = result.unwrap();
    assert_eq!(done.protocol, Protocol::Resp3);
    assert_eq!(
        done.server,
        ServerInfo {
            server: Some("redis".into()),
            version: Some("7.2.4".into()),
            proto: Some(3),
            id: Some(42),
            mode: Some("standalone".into()),
            role: Some("master".into()),
        }
    );
    assert_eq!(
        sent,
        [
            cmd(&["HELLO", "3", "AUTH", "app", PASSWORD, "SETNAME", "worker-1"]),
            cmd(&["SELECT", "3"]),
        ]
    );
}

#[test]
fn resp3_plain_is_one_command() {
    let (result, sent) = drive(Hello::new(Protocol::Resp3), &[HELLO_REPLY]);
    assert_eq!(result.unwrap().protocol, Protocol::Resp3);
    assert_eq!(sent, [cmd(&["HELLO", "3"])]);
    // A password without a user name authenticates the `default` user.
    let (_, sent) = drive(
        Hello::new(Protocol::Resp3).auth(None, PASSWORD),
        &[HELLO_REPLY],
    );
    assert_eq!(sent, [cmd(&["HELLO", "3", "AUTH", "default", PASSWORD])]);
}

#[test]
fn falls_back_to_resp2_when_hello_is_unknown() {
    let hello = Hello::new(Protocol::Resp3)
        .auth(None, PASSWORD)
        .client_name("n")
        .db(1);
    let unknown: &[u8] = b"-ERR unknown command 'HELLO', with args beginning with: '3'\r\n";
    let (result, sent) = drive(hello, &[unknown, OK, OK, OK]);
    let done = result.unwrap();
    assert_eq!(done.protocol, Protocol::Resp2);
    assert_eq!(done.server, ServerInfo::default());
    assert_eq!(
        sent,
        [
            cmd(&["HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "n"]),
            cmd(&["AUTH", PASSWORD]),
            cmd(&["CLIENT", "SETNAME", "n"]),
            cmd(&["SELECT", "1"]),
        ]
    );
    // NOPROTO (a server without RESP3) falls back the same way.
    let (result, sent) = drive(Hello::new(Protocol::Resp3), &[b"-NOPROTO sorry\r\n"]);
    assert_eq!(result.unwrap().protocol, Protocol::Resp2);
    assert_eq!(sent.len(), 1);
}

#[test]
fn resp2_asked_for() {
    let hello = Hello::new(Protocol::Resp2)
        .auth(Some("app"), PASSWORD)
        .db(0);
    let (result, sent) = drive(hello, &[OK]);
    assert_eq!(result.unwrap().protocol, Protocol::Resp2);
    assert_eq!(sent, [cmd(&["AUTH", "app", PASSWORD])]);
    // Nothing to send at all: done at once.
    let mut hello = Hello::new(Protocol::Resp2);
    let mut out = BytesMut::new();
    let progress = hello.start(&mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(
        progress,
        Progress::Done(Negotiated {
            protocol: Protocol::Resp2,
            server: ServerInfo::default()
        })
    );
}

#[test]
fn refused_credentials_are_typed() {
    let wrongpass: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let noauth: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated\r\n";
    for (hello, replies, code) in [
        (
            Hello::new(Protocol::Resp3).auth(Some("u"), PASSWORD),
            vec![wrongpass],
            "WRONGPASS",
        ),
        (Hello::new(Protocol::Resp3), vec![noauth], "NOAUTH"),
        (
            Hello::new(Protocol::Resp3).auth(None, PASSWORD),
            vec![b"-NOPERM no\r\n" as &[u8]],
            "NOPERM",
        ),
        // RESP2: any error to AUTH.
        (
            Hello::new(Protocol::Resp3).auth(None, PASSWORD),
            vec![
                b"-ERR unknown command 'HELLO'\r\n" as &[u8],
                b"-ERR invalid password\r\n",
            ],
            "ERR",
        ),
        (
            Hello::new(Protocol::Resp2).auth(None, PASSWORD),
            vec![wrongpass],
            "WRONGPASS",
        ),
    ] {
        let (result, _) = drive(hello, &replies);
        let e = result.unwrap_err();
        let HelloError::Auth(server) = &e else {
            panic!("not an auth error: {e:?}");
        };
        assert_eq!(server.code(), Some(code));
        assert!(!e.to_string().contains(PASSWORD));
        assert!(!format!("{e:?}").contains(PASSWORD));
    }
}

#[test]
fn refused_setname_and_select() {
    let (result, _) = drive(
        Hello::new(Protocol::Resp2).client_name("bad name"),
        &[b"-ERR Client names cannot contain spaces\r\n"],
    );
    assert_eq!(
        result.unwrap_err(),
        HelloError::Refused {
            command: "CLIENT SETNAME",
            error: ServerError::new("ERR Client names cannot contain spaces"),
        }
    );
    let (result, _) = drive(
        Hello::new(Protocol::Resp3).db(99),
        &[HELLO_REPLY, b"-ERR DB index is out of range\r\n"],
    );
    assert_eq!(
        result.unwrap_err(),
        HelloError::Refused {
            command: "SELECT",
            error: ServerError::new("ERR DB index is out of range"),
        }
    );
}

#[test]
fn call_order_misuse_is_an_error() {
    let mut hello = Hello::new(Protocol::Resp3);
    let mut out = BytesMut::new();
    assert_eq!(
        hello.step(Value::NULL, &mut out),
        Err(HelloError::Misuse("step before start"))
    );
    let mut hello = Hello::new(Protocol::Resp3);
    assert_eq!(hello.start(&mut out), Ok(Progress::Continue));
    assert_eq!(
        hello.start(&mut out),
        Err(HelloError::Misuse("start called twice"))
    );
    assert!(matches!(
        hello.step(reply(HELLO_REPLY), &mut out),
        Ok(Progress::Done(_))
    ));
    assert_eq!(
        hello.step(reply(OK), &mut out),
        Err(HelloError::Misuse("step after the handshake ended"))
    );
}

#[test]
fn a_resp2_shaped_hello_reply_and_odd_values() {
    // A flat key/value array, as a proxy speaking RESP2 might answer HELLO.
    let flat: &[u8] = b"*4\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n";
    let (result, _) = drive(Hello::new(Protocol::Resp3), &[flat]);
    let server = result.unwrap().server;
    assert_eq!(server.server.as_deref(), Some("redis"));
    assert_eq!(server.proto, Some(3));
    // A reply of another shape still means HELLO was accepted; its fields are unknown.
    let (result, _) = drive(Hello::new(Protocol::Resp3), &[b":1\r\n"]);
    assert_eq!(result.unwrap().server, ServerInfo::default());
}

#[test]
fn the_password_stays_out_of_debug() {
    let hello = Hello::new(Protocol::Resp3).auth(Some("app"), PASSWORD);
    let shown = format!("{hello:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(
        shown.contains("app") && shown.contains("<redacted>"),
        "{shown}"
    );
}

#[test]
fn auth_failure_codes() {
    assert!(is_auth_failure(Some("WRONGPASS")));
    assert!(is_auth_failure(Some("NOAUTH")));
    assert!(is_auth_failure(Some("NOPERM")));
    assert!(!is_auth_failure(Some("ERR")));
    assert!(!is_auth_failure(None));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any replies in any order: the handshake sends its next command, fails with a typed
    /// error, or finishes; it never panics, and once over it stays over.
    #[test]
    fn any_replies_are_handled(order in proptest::collection::vec(0usize..6, 0..8), resp3 in proptest::bool::ANY) {
        let replies: [&[u8]; 6] = [
            OK,
            HELLO_REPLY,
            b"-ERR unknown command\r\n",
            b"-WRONGPASS no\r\n",
            b"_\r\n",
            b"*1\r\n:1\r\n",
        ];
        let protocol = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let mut hello = Hello::new(protocol).auth(Some("u"), PASSWORD).client_name("n").db(2);
        let mut out = BytesMut::new();
        let mut over = matches!(hello.start(&mut out).unwrap(), Progress::Done(_));
        for k in order {
            let step = hello.step(reply(replies[k]), &mut out);
            if over {
                proptest::prop_assert!(matches!(step, Err(HelloError::Misuse(_))));
                continue;
            }
            over = !matches!(step, Ok(Progress::Continue));
            proptest::prop_assert_eq!(hello.is_over(), over);
        }
    }
}
