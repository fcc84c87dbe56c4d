//! The startup machine driven by scripted server bytes, one method at a time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::BytesMut;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::*;
use crate::auth::AuthError;

const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
const SALT: &[u8] = b"0123456789abcdef";
const PASSWORD: &str = "pencil-secret";

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn auth(code: i32, data: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    frame(b'R', &body)
}

fn param(name: &str, value: &str) -> Vec<u8> {
    frame(b'S', format!("{name}\0{value}\0").as_bytes())
}

fn key_data() -> Vec<u8> {
    let mut body = 4242i32.to_be_bytes().to_vec();
    body.extend_from_slice(&77i32.to_be_bytes());
    frame(b'K', &body)
}

fn ready() -> Vec<u8> {
    frame(b'Z', b"I")
}

fn error(code: &str, message: &str) -> Vec<u8> {
    frame(b'E', format!("SFATAL\0C{code}\0M{message}\0\0").as_bytes())
}

fn notice() -> Vec<u8> {
    frame(b'N', b"SNOTICE\0C00000\0Mhello\0\0")
}

/// What a server sends once it accepted the client.
fn accepted() -> Vec<u8> {
    [
        auth(0, b""),
        param("server_version", "16.2"),
        notice(),
        param("in_hot_standby", "off"),
        key_data(),
        ready(),
    ]
    .concat()
}

/// Drives `startup` with the server's bytes, fed one byte at a time (so every message is
/// parsed from a buffer that grew across reads), and returns its outcome and every byte the
/// client sent after the StartupMessage.
fn drive(mut startup: Startup, server: &[u8]) -> (Result<Session, StartupError>, Vec<u8>) {
    let mut out = BytesMut::new();
    startup.start(&mut out).unwrap();
    out.clear();
    let mut sent = Vec::new();
    let mut input = BytesMut::new();
    for &byte in server {
        input.extend_from_slice(&[byte]);
        let Some(message) = Message::parse(&mut input).unwrap() else {
            continue;
        };
        let step = match startup.step(message, &mut out) {
            Ok(step) => step,
            Err(e) => return (Err(e), sent),
        };
        match step {
            Progress::Continue => {}
            Progress::Derive(job) => {
                if let Err(e) = startup.derived(job.run(), &mut out) {
                    return (Err(e), sent);
                }
            }
            Progress::Done(session) => {
                assert!(input.is_empty(), "nothing after ReadyForQuery");
                assert!(startup.is_over());
                sent.extend_from_slice(&out);
                return (Ok(session), sent);
            }
        }
        sent.extend_from_slice(&out);
        out.clear();
    }
    panic!("the script ended before the startup did");
}

/// The client's messages, split: `(tag, body)`.
fn messages(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut all = Vec::new();
    while !bytes.is_empty() {
        let len = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        all.push((bytes[0], bytes[5..1 + len].to_vec()));
        bytes = &bytes[1 + len..];
    }
    all
}

#[test]
fn startup_message_bytes() {
    let mut startup = Startup::new("alice")
        .database("shop")
        .param("client_encoding", "UTF8")
        .param("application_name", "app");
    let mut out = BytesMut::new();
    startup.start(&mut out).unwrap();
    let body =
        b"\0\x03\0\0user\0alice\0database\0shop\0client_encoding\0UTF8\0application_name\0app\0\0";
    let mut expected = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    expected.extend_from_slice(body);
    assert_eq!(&out[..], &expected[..]);
    assert_eq!(
        startup.start(&mut out),
        Err(StartupError::Misuse("start called twice"))
    );
    // A NUL in a parameter is an encoding error, not a panic.
    let mut bad = Startup::new("a\0b");
    assert!(matches!(
        bad.start(&mut BytesMut::new()),
        Err(StartupError::Encode(_))
    ));
}

#[test]
fn trust_collects_the_session() {
    let (session, sent) = drive(Startup::new("alice"), &accepted());
    let session = session.unwrap();
    assert!(sent.is_empty());
    assert_eq!(session.auth, AuthMethod::Trust);
    assert_eq!(session.status, TransactionStatus::Idle);
    assert_eq!(session.param("server_version"), Some("16.2"));
    assert_eq!(session.param("in_hot_standby"), Some("off"));
    assert_eq!(session.params.len(), 2);
    let key = session.key_data.unwrap();
    assert_eq!((key.process_id, key.secret_key), (4242, 77));
}

#[test]
fn cleartext_password() {
    let script = [auth(3, b""), accepted()].concat();
    let (session, sent) = drive(Startup::new("alice").password(PASSWORD), &script);
    assert_eq!(session.unwrap().auth, AuthMethod::Cleartext);
    assert_eq!(sent, frame(b'p', b"pencil-secret\0"));
}

#[test]
fn md5_password() {
    let script = [auth(5, &[1, 2, 3, 4]), accepted()].concat();
    let (session, sent) = drive(Startup::new("user").password("pass"), &script);
    assert_eq!(session.unwrap().auth, AuthMethod::Md5);
    // md5(md5("pass" + "user") hex + salt), computed independently with Python's hashlib.
    assert_eq!(sent, frame(b'p', b"md56cf524962d8413e6b0cdf79fddff891c\0"));
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A SCRAM server's side, written from RFC 5802 independently of `auth::scram`: the
/// expected client proof and the server-final message for the exchange.
fn scram_server(c_attribute: &str, iterations: u32) -> (String, String, String) {
    let server_nonce = format!("{NONCE}srv");
    let server_first = format!(
        "r={server_nonce},s={},i={iterations}",
        STANDARD.encode(SALT)
    );
    let client_final_bare = format!("c={c_attribute},r={server_nonce}");
    let auth_message = format!("n=,r={NONCE},{server_first},{client_final_bare}");
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(PASSWORD.as_bytes(), SALT, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac(&salted, b"Server Key");
    let server_signature = hmac(&server_key, auth_message.as_bytes());
    (
        server_first,
        format!("{client_final_bare},p={}", STANDARD.encode(proof)),
        format!("v={}", STANDARD.encode(server_signature)),
    )
}

fn scram_script(mechanisms: &[u8], server_first: &str, server_final: &str) -> Vec<u8> {
    [
        auth(10, mechanisms),
        auth(11, server_first.as_bytes()),
        auth(12, server_final.as_bytes()),
        accepted(),
    ]
    .concat()
}

#[test]
fn scram_sha_256() {
    let (server_first, client_final, server_final) = scram_server("biws", 4096);
    let script = scram_script(b"SCRAM-SHA-256\0\0", &server_first, &server_final);
    let startup = Startup::new("alice").password(PASSWORD).scram_nonce(NONCE);
    let (session, sent) = drive(startup, &script);
    assert_eq!(session.unwrap().auth, AuthMethod::ScramSha256);
    let sent = messages(&sent);
    assert_eq!(sent.len(), 2);
    let first = format!("SCRAM-SHA-256\0\0\0\0\x20n,,n=,r={NONCE}");
    assert_eq!(sent[0], (b'p', first.into_bytes()));
    assert_eq!(sent[1], (b'p', client_final.into_bytes()));
}

#[test]
fn scram_sha_256_plus_binds_the_tls_end_point() {
    let hash: Vec<u8> = (0u8..32).collect();
    let mut cb = b"p=tls-server-end-point,,".to_vec();
    cb.extend_from_slice(&hash);
    let (server_first, client_final, server_final) = scram_server(&STANDARD.encode(cb), 4096);
    let script = scram_script(
        b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
        &server_first,
        &server_final,
    );
    let startup = Startup::new("alice")
        .password(PASSWORD)
        .scram_nonce(NONCE)
        .channel_binding(BindingPolicy::Require, TlsEndPoint::Hash(hash));
    let (session, sent) = drive(startup, &script);
    assert_eq!(session.unwrap().auth, AuthMethod::ScramSha256Plus);
    let sent = messages(&sent);
    assert!(sent[0].1.starts_with(b"SCRAM-SHA-256-PLUS\0"));
    assert_eq!(sent[1], (b'p', client_final.into_bytes()));
}

#[test]
fn tls_without_plus_says_y() {
    let (server_first, _, server_final) = scram_server("eSws", 4096);
    let script = scram_script(b"SCRAM-SHA-256\0\0", &server_first, &server_final);
    let startup = Startup::new("alice")
        .password(PASSWORD)
        .scram_nonce(NONCE)
        .channel_binding(BindingPolicy::Prefer, TlsEndPoint::Hash(vec![9; 32]));
    let (session, sent) = drive(startup, &script);
    assert_eq!(session.unwrap().auth, AuthMethod::ScramSha256);
    assert!(messages(&sent)[0]
        .1
        .ends_with(format!("y,,n=,r={NONCE}").as_bytes()));
}

#[test]
fn wrong_scram_server_signature() {
    let (server_first, _, _) = scram_server("biws", 4096);
    let forged = format!("v={}", STANDARD.encode([0x5a; 32]));
    let script = scram_script(b"SCRAM-SHA-256\0\0", &server_first, &forged);
    let startup = Startup::new("alice").password(PASSWORD).scram_nonce(NONCE);
    let (result, _) = drive(startup, &script);
    let e = result.unwrap_err();
    assert_eq!(e, StartupError::Scram(AuthError::InvalidServerSignature));
    assert!(e.is_auth());
    assert!(!e.to_string().contains(PASSWORD));
}

#[test]
fn ok_before_the_server_proved_itself() {
    let (server_first, _, _) = scram_server("biws", 4096);
    let script = [
        auth(10, b"SCRAM-SHA-256\0\0"),
        auth(11, server_first.as_bytes()),
        accepted(),
    ]
    .concat();
    let startup = Startup::new("alice").password(PASSWORD).scram_nonce(NONCE);
    let (result, _) = drive(startup, &script);
    assert_eq!(
        result.unwrap_err(),
        StartupError::Scram(AuthError::NotVerified)
    );
    // Straight after the client-first.
    let script = [auth(10, b"SCRAM-SHA-256\0\0"), accepted()].concat();
    let startup = Startup::new("alice").password(PASSWORD).scram_nonce(NONCE);
    assert_eq!(
        drive(startup, &script).0.unwrap_err(),
        StartupError::Scram(AuthError::NotVerified)
    );
}

#[test]
fn hostile_server_first_is_typed() {
    let script = [
        auth(10, b"SCRAM-SHA-256\0\0"),
        auth(11, format!("r={NONCE}x,s=c2FsdA==,i=10").as_bytes()),
    ]
    .concat();
    let startup = Startup::new("alice").password(PASSWORD).scram_nonce(NONCE);
    assert_eq!(
        drive(startup, &script).0.unwrap_err(),
        StartupError::Scram(AuthError::TooFewIterations(10))
    );
}

#[test]
fn messages_out_of_order() {
    let cases: Vec<(Vec<u8>, StartupError)> = vec![
        (
            ready(),
            StartupError::Unexpected {
                message: "ReadyForQuery",
                state: "waiting for an authentication request",
            },
        ),
        (
            key_data(),
            StartupError::Unexpected {
                message: "BackendKeyData",
                state: "waiting for an authentication request",
            },
        ),
        (
            auth(11, b"r=x"),
            StartupError::AuthOutOfOrder {
                request: "SASLContinue without a SASL exchange",
                state: "waiting for an authentication request",
            },
        ),
        (
            auth(12, b"v=x"),
            StartupError::AuthOutOfOrder {
                request: "SASLFinal without a SASL exchange",
                state: "waiting for an authentication request",
            },
        ),
        (
            [auth(3, b""), auth(3, b"")].concat(),
            StartupError::AuthOutOfOrder {
                request: "a second password request",
                state: "waiting for the password's verdict",
            },
        ),
        (
            [auth(0, b""), auth(0, b"")].concat(),
            StartupError::Unexpected {
                message: "Authentication",
                state: "reading session parameters",
            },
        ),
        (
            [auth(0, b""), frame(b'D', &[0, 0])].concat(),
            StartupError::Unexpected {
                message: "DataRow",
                state: "reading session parameters",
            },
        ),
    ];
    for (script, expected) in cases {
        let (result, _) = drive(Startup::new("alice").password(PASSWORD), &script);
        assert_eq!(result.unwrap_err(), expected);
    }
    // After an error the machine stays over.
    let mut startup = Startup::new("alice");
    let mut out = BytesMut::new();
    assert_eq!(
        startup
            .step(Message::ReadyForQuery(TransactionStatus::Idle), &mut out)
            .unwrap_err(),
        StartupError::Misuse("step before start")
    );
    let mut startup = Startup::new("alice");
    startup.start(&mut out).unwrap();
    assert!(startup
        .step(Message::ReadyForQuery(TransactionStatus::Idle), &mut out)
        .is_err());
    assert!(startup.is_over());
    assert_eq!(
        startup
            .step(Message::Authentication(Authentication::Ok), &mut out)
            .unwrap_err(),
        StartupError::Misuse("step after the startup ended")
    );
}

#[test]
fn server_error_keeps_its_sqlstate() {
    let script = [
        auth(3, b""),
        error("28P01", "password authentication failed"),
    ]
    .concat();
    let (result, _) = drive(Startup::new("alice").password(PASSWORD), &script);
    let e = result.unwrap_err();
    let StartupError::Server(fields) = &e else {
        panic!("{e:?}");
    };
    assert_eq!(fields.code.code(), "28P01");
    assert_eq!(fields.message, "password authentication failed");
    assert!(e.is_auth());
    assert_eq!(
        e.to_string(),
        "FATAL: password authentication failed (SQLSTATE 28P01)"
    );
    let (result, _) = drive(Startup::new("alice"), &error("3D000", "no such database"));
    assert!(!result.unwrap_err().is_auth());
}

#[test]
fn missing_password_and_unsupported_methods() {
    let (result, _) = drive(Startup::new("alice"), &auth(3, b""));
    assert_eq!(result.unwrap_err(), StartupError::PasswordMissing);
    let (result, _) = drive(Startup::new("alice"), &auth(10, b"SCRAM-SHA-256\0\0"));
    assert_eq!(result.unwrap_err(), StartupError::PasswordMissing);
    for (code, name) in [
        (2, "Kerberos V5"),
        (6, "SCM credentials"),
        (7, "GSSAPI"),
        (9, "SSPI"),
    ] {
        let (result, _) = drive(Startup::new("alice").password(PASSWORD), &auth(code, b""));
        assert_eq!(result.unwrap_err(), StartupError::UnsupportedMethod(name));
    }
    let (result, _) = drive(
        Startup::new("alice").password(PASSWORD),
        &auth(10, b"SCRAM-SHA-1\0\0"),
    );
    assert_eq!(result.unwrap_err(), StartupError::NoMechanism);
}

#[test]
fn channel_binding_required() {
    let require = |end_point| {
        Startup::new("alice")
            .password(PASSWORD)
            .channel_binding(BindingPolicy::Require, end_point)
    };
    let cases = [
        (
            TlsEndPoint::Hash(vec![1; 32]),
            accepted(),
            BindingError::Unbound("trust (no password)"),
        ),
        (
            TlsEndPoint::Hash(vec![1; 32]),
            auth(3, b""),
            BindingError::Unbound("a cleartext password"),
        ),
        (
            TlsEndPoint::Hash(vec![1; 32]),
            auth(5, b"salt"),
            BindingError::Unbound("MD5"),
        ),
        (
            TlsEndPoint::Plaintext,
            auth(10, b"SCRAM-SHA-256-PLUS\0\0"),
            BindingError::NoTls,
        ),
        (
            TlsEndPoint::NoHash,
            auth(10, b"SCRAM-SHA-256-PLUS\0\0"),
            BindingError::NoHash,
        ),
        (
            TlsEndPoint::Hash(vec![1; 32]),
            auth(10, b"SCRAM-SHA-256\0\0"),
            BindingError::NotOffered,
        ),
    ];
    for (end_point, script, expected) in cases {
        let (result, sent) = drive(require(end_point), &script);
        let e = result.unwrap_err();
        assert_eq!(e, StartupError::ChannelBinding(expected));
        assert!(e.is_auth());
        // Nothing was sent: not even a password the policy forbids.
        assert!(sent.is_empty());
    }
}

#[test]
fn secrets_stay_out_of_debug() {
    let mut startup = Startup::new("alice")
        .password(PASSWORD)
        .channel_binding(BindingPolicy::Prefer, TlsEndPoint::Hash(vec![7; 3]));
    let shown = format!("{startup:?}");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains("pencil"),
        "{shown}"
    );
    assert!(
        shown.contains("alice") && shown.contains("Hash(3 bytes)"),
        "{shown}"
    );
    let mut out = BytesMut::new();
    startup.start(&mut out).unwrap();
    let step = startup
        .step(
            Message::Authentication(Authentication::Sasl {
                mechanisms: vec![crate::message::backend::BytesStr::from_utf8(
                    "SCRAM-SHA-256".into(),
                )
                .unwrap()],
            }),
            &mut out,
        )
        .unwrap();
    assert!(matches!(step, Progress::Continue));
    let shown = format!("{startup:?}");
    assert!(!shown.contains("pencil"), "{shown}");
}

#[test]
fn turns() {
    let parse = |bytes: Vec<u8>| {
        Message::parse(&mut BytesMut::from(&bytes[..]))
            .unwrap()
            .unwrap()
    };
    for (bytes, ends) in [
        (auth(0, b""), false),
        (auth(12, b"v=x"), false),
        (auth(3, b""), true),
        (auth(10, b"SCRAM-SHA-256\0\0"), true),
        (auth(11, b"r=x"), true),
        (error("28P01", "no"), true),
        (ready(), true),
        (param("a", "b"), false),
        (key_data(), false),
        (notice(), false),
    ] {
        assert_eq!(ends_turn(&parse(bytes.clone())), ends, "{bytes:?}");
    }
}

/// Messages a server could send during a startup, as building blocks for random scripts.
fn pieces() -> Vec<Vec<u8>> {
    vec![
        auth(0, b""),
        auth(3, b""),
        auth(5, &[1, 2, 3, 4]),
        auth(7, b""),
        auth(10, b"SCRAM-SHA-256\0\0"),
        auth(10, b"SCRAM-SHA-256-PLUS\0\0"),
        auth(11, format!("r={NONCE}srv,s=c2FsdA==,i=4096").as_bytes()),
        auth(11, b"e=nope"),
        auth(12, b"v=AAAA"),
        param("server_version", "16"),
        key_data(),
        notice(),
        error("28P01", "no"),
        ready(),
        frame(b'D', &[0, 0]),
        frame(b'v', &[0, 0, 0, 0, 0, 0, 0, 0]),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any sequence of well-formed messages: the machine answers, fails with a typed error, or
    /// finishes; it never panics, and once over it stays over.
    #[test]
    fn any_message_order_is_handled(
        order in proptest::collection::vec(0usize..16, 0..12),
        require in proptest::bool::ANY,
    ) {
        let pieces = pieces();
        let policy = if require { BindingPolicy::Require } else { BindingPolicy::Prefer };
        let mut startup = Startup::new("alice")
            .password(PASSWORD)
            .scram_nonce(NONCE)
            .max_scram_iterations(4096)
            .channel_binding(policy, TlsEndPoint::Hash(vec![3; 32]));
        let mut out = BytesMut::new();
        startup.start(&mut out).unwrap();
        let mut over = false;
        for k in order {
            let mut input = BytesMut::from(&pieces[k][..]);
            let message = Message::parse(&mut input).unwrap().unwrap();
            let step = startup.step(message, &mut out);
            if over {
                proptest::prop_assert!(matches!(step, Err(StartupError::Misuse(_))));
                continue;
            }
            match step {
                Ok(Progress::Derive(job)) => {
                    if startup.derived(job.run(), &mut out).is_err() {
                        over = true;
                    }
                }
                Ok(Progress::Done(_)) | Err(_) => over = true,
                Ok(Progress::Continue) => {}
            }
            proptest::prop_assert_eq!(startup.is_over(), over);
        }
    }
}

#[test]
fn a_flood_of_parameters_is_an_error() {
    let mut startup = Startup::new("alice");
    let mut out = BytesMut::new();
    startup.start(&mut out).unwrap();
    let _ = startup
        .step(Message::Authentication(Authentication::Ok), &mut out)
        .unwrap();
    let status = || {
        Message::parse(&mut BytesMut::from(&param("x", "y")[..]))
            .unwrap()
            .unwrap()
    };
    for _ in 0..MAX_TURN {
        assert!(matches!(
            startup.step(status(), &mut out),
            Ok(Progress::Continue)
        ));
    }
    assert_eq!(
        startup.step(status(), &mut out).unwrap_err(),
        StartupError::TooManyParameters(MAX_TURN)
    );
}
