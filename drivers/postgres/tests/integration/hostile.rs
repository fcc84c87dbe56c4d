//! Hostile servers (scripted on std threads): garbage after the startup, a message claiming
//! 1 GiB, frames cut short, lying counts, and SCRAM exchanges that do not prove the server
//! knows the password. Every one ends in a typed error on that connection: no panic, no hang,
//! no allocation sized from a claimed length, and the worker's other connections keep working.

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{
    auth, backend, base64, block_on, client_at, client_for, guard, on_worker, ready, rss_kib,
    shared_server, FakePg, Rng, Session,
};
use corelane_postgres::{Client, Error};

/// `ParameterDescription` (one int4) + `RowDescription` (one binary int4 column) +
/// `ReadyForQuery`: a correct reply to the client's Parse/Describe/Sync of `SELECT $1::int4`.
fn describe_reply() -> Vec<u8> {
    let mut t = 1i16.to_be_bytes().to_vec();
    t.extend_from_slice(&23u32.to_be_bytes());
    let mut out = backend(b't', &t);
    let mut r = 1i16.to_be_bytes().to_vec();
    r.extend_from_slice(b"int4\0");
    r.extend_from_slice(&0u32.to_be_bytes());
    r.extend_from_slice(&0i16.to_be_bytes());
    r.extend_from_slice(&23u32.to_be_bytes());
    r.extend_from_slice(&4i16.to_be_bytes());
    r.extend_from_slice(&(-1i32).to_be_bytes());
    r.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&backend(b'T', &r));
    out.extend_from_slice(&ready());
    out
}

/// Garbage number `i`: some pure noise, some noise behind a plausible header (so it gets past
/// the framing into message parsing), some a well-framed message of the wrong kind.
fn garbage(i: usize) -> Vec<u8> {
    let mut rng = Rng::new(i as u64 + 1);
    let n = 1 + rng.below(2000) as usize;
    let noise = rng.bytes(n);
    match i % 4 {
        0 => noise,
        1 => {
            let tags = b"TDCEZtnsI1239KRNSAGHW";
            let tag = tags[rng.below(tags.len() as u64) as usize];
            let mut out = backend(tag, &noise);
            out.extend_from_slice(&rng.bytes(16));
            out
        }
        2 => {
            // A DataRow whose column lengths lie.
            let mut body = 3i16.to_be_bytes().to_vec();
            body.extend_from_slice(&1_000_000i32.to_be_bytes());
            body.extend_from_slice(&noise[..n.min(64)]);
            backend(b'D', &body)
        }
        _ => {
            // An authentication request in the middle of a query.
            let mut out = auth(5, &[1, 2, 3, 4]);
            out.extend_from_slice(&noise);
            out
        }
    }
}

#[test]
fn random_bytes_fail_the_query_and_spare_the_worker() {
    let real = shared_server();
    let good = client_for(&real, |c| c);
    let fake = FakePg::start(|mut s: Session| {
        let index = s.index;
        if s.handshake().is_none() {
            return;
        }
        // Even sessions misbehave at the describe, odd ones after a correct describe (during
        // the Bind/Execute that follows).
        if s.read_until_sync().is_none() {
            return;
        }
        if index % 2 == 1 {
            s.write(&describe_reply());
            if s.read_until_sync().is_none() {
                return;
            }
        }
        s.write(&garbage(index / 2));
        s.close();
    });
    let hostile = client_at(fake.addr, |c| c);
    let accepted = guard("random bytes", move || {
        on_worker(0, move || async move {
            for round in 0..24 {
                // A fresh statement each time: the client's own statement cache must not hide
                // the describe from the server.
                let sql = format!("SELECT $1::int4 AS c{}", round / 2);
                let e = hostile
                    .query(&sql, &[&7i32])
                    .await
                    .expect_err("garbage cannot produce rows");
                eprintln!("random bytes, round {round}: {e}");
                assert!(e.is_closed(), "round {round}: {e}");
                // The worker is fine: the real server answers on the same worker.
                let row = good.query_one("SELECT $1::int4", &[&round]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), round);
            }
        });
        fake.accepted()
    });
    assert!(
        accepted >= 12,
        "the client reconnected only {accepted} times"
    );
}

/// What the fake server sends after the handshake and the client's first request, then stalls
/// until `release` (or the client closes).
fn stalling(payload: Vec<u8>, sent: Arc<AtomicBool>, release: Arc<AtomicBool>) -> FakePg {
    FakePg::start(move |mut s: Session| {
        if s.handshake().is_none() || s.read_until_sync().is_none() {
            return;
        }
        // Set before the write: the client may fail, and the test checks this flag, before
        // this thread runs again after the write (seen under load).
        sent.store(true, Ordering::SeqCst);
        s.write(&payload);
        for _ in 0..12_000 {
            if release.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        s.close();
    })
}

#[test]
fn a_message_claiming_one_gib_is_refused_without_allocating() {
    let sent = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let mut payload = vec![b'D'];
    payload.extend_from_slice(&0x4000_0000i32.to_be_bytes());
    payload.extend_from_slice(&[0, 1, 0, 0, 0, 4, 1, 2]);
    let fake = stalling(payload, sent.clone(), release.clone());
    let client = client_at(fake.addr, |c| c);
    let before = rss_kib();
    let e = guard("1 GiB claim", move || {
        let e = block_on(client.query("SELECT $1::int4", &[&1i32])).unwrap_err();
        drop(fake);
        e
    });
    release.store(true, Ordering::SeqCst);
    let after = rss_kib();
    assert!(sent.load(Ordering::SeqCst));
    assert!(e.is_closed(), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("over the maximum") && text.contains("1073741824"),
        "not a message-too-large error: {text}"
    );
    assert!(
        after < before + 200 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn a_claim_just_under_the_limit_waits_without_allocating_it() {
    let sent = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    // 255 MiB claimed (under the 256 MiB default maximum), 8 bytes sent, then a stall.
    let mut payload = vec![b'D'];
    payload.extend_from_slice(&(255i32 * 1024 * 1024).to_be_bytes());
    payload.extend_from_slice(&[0, 1, 0, 0, 0, 4, 1, 2]);
    let fake = stalling(payload, sent.clone(), release.clone());
    let client = client_at(fake.addr, |c| c);
    let before = rss_kib();
    let query = std::thread::spawn(move || {
        let r = block_on(client.query("SELECT $1::int4", &[&1i32]));
        drop(fake);
        r
    });
    // While the client waits for the rest of the message: no 255 MiB buffer.
    for _ in 0..12_000 {
        if sent.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        sent.load(Ordering::SeqCst),
        "the fake server never got the query"
    );
    std::thread::sleep(Duration::from_millis(300));
    let during = rss_kib();
    release.store(true, Ordering::SeqCst);
    let e = guard("255 MiB claim", move || query.join().unwrap()).unwrap_err();
    assert!(e.is_closed(), "{e}");
    assert!(
        during < before + 100 * 1024,
        "RSS grew from {before} KiB to {during} KiB while a 255 MiB message was pending"
    );
}

/// A fake server that sends `payload` after the handshake and the client's first request,
/// then closes.
fn then_close(payload: Vec<u8>) -> FakePg {
    FakePg::start(move |mut s: Session| {
        if s.handshake().is_none() || s.read_until_sync().is_none() {
            return;
        }
        s.write(&payload);
        s.close();
    })
}

#[test]
fn frames_cut_short_and_lying_counts() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // A RowDescription claiming 100 bytes, 10 sent.
    let mut cut = vec![b'T'];
    cut.extend_from_slice(&100i32.to_be_bytes());
    cut.extend_from_slice(&[0, 1, b'a', b'b', 0, 0, 0, 0, 0, 0]);
    cases.push(("body cut short", cut));
    // Half a header.
    cases.push(("header cut short", vec![b'Z', 0, 0]));
    // A complete ParameterDescription, then the RowDescription cut.
    let mut partial = backend(b't', &[0, 1, 0, 0, 0, 23]);
    partial.extend_from_slice(&[b'T', 0, 0, 0, 40, 0, 1]);
    cases.push(("second message cut short", partial));
    // A DataRow claiming 32767 columns in a 2-byte body; a ParameterDescription claiming
    // 30000 types in 4 bytes; a length below 4.
    cases.push(("lying column count", backend(b'D', &32767i16.to_be_bytes())));
    cases.push((
        "lying parameter count",
        backend(b't', &[0x75, 0x30, 0, 0, 0, 23]),
    ));
    cases.push(("length below 4", vec![b'Z', 0, 0, 0, 3, b'I']));
    cases.push(("negative length", vec![b'T', 0xff, 0xff, 0xff, 0xf0]));
    let real = shared_server();
    for (what, payload) in cases {
        let fake = then_close(payload);
        let client = client_at(fake.addr, |c| c);
        let good = client_for(&real, |c| c);
        let e = guard(what, move || {
            on_worker(1, move || async move {
                let e = client.query("SELECT $1::int4", &[&1i32]).await.unwrap_err();
                let row = good.query_one("SELECT 1::int4", &[]).await.unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), 1);
                drop(fake);
                e
            })
        });
        eprintln!("{what}: {e}");
        assert!(e.is_closed(), "{what}: {e}");
    }
}

#[test]
fn the_startup_cut_short_is_an_error_not_a_hang() {
    for (what, payload) in [
        ("nothing", Vec::new()),
        ("half an auth request", vec![b'R', 0, 0]),
        ("auth ok, no ReadyForQuery", support::auth_ok()),
        (
            "auth ok, ReadyForQuery cut",
            [support::auth_ok(), vec![b'Z', 0, 0, 0, 5]].concat(),
        ),
    ] {
        let fake = FakePg::start(move |mut s: Session| {
            if s.read_startup().is_none() {
                return;
            }
            s.write(&payload);
            s.close();
        });
        let client = client_at(fake.addr, |c| c);
        let e = guard(what, move || {
            let e = block_on(client.query("SELECT 1", &[])).unwrap_err();
            drop(fake);
            e
        });
        eprintln!("startup, {what}: {e}");
        assert!(e.is_closed() || e.is_connect(), "{what}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// SCRAM-SHA-256 impostors.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Scram {
    /// A well-formed server-final whose signature is wrong.
    TamperedSignature,
    /// AuthenticationOk after the client-final, no SASLFinal.
    OkWithoutFinal,
    /// AuthenticationOk right after the client-first.
    OkAfterClientFirst,
    /// A server-final that is not a signature at all.
    FinalWithoutSignature,
    /// An iteration count below 4096.
    FewIterations,
    /// A server nonce that does not extend the client's.
    ForeignNonce,
}

const PASSWORD: &str = "hunter2-secret";

/// The client nonce of a SASLInitialResponse body (`mechanism\0`, length, `n,,n=,r=NONCE`).
fn client_nonce(body: &[u8]) -> Option<String> {
    let nul = body.iter().position(|&b| b == 0)?;
    if &body[..nul] != b"SCRAM-SHA-256" {
        return None;
    }
    let data = std::str::from_utf8(body.get(nul + 5..)?).ok()?;
    data.split(',')
        .find_map(|p| p.strip_prefix("r="))
        .map(str::to_owned)
}

fn scram_impostor(variant: Scram, post_auth: Arc<AtomicUsize>) -> FakePg {
    FakePg::start(move |mut s: Session| {
        if s.read_startup().is_none() {
            return;
        }
        s.write(&auth(10, b"SCRAM-SHA-256\0\0"));
        let Some((b'p', first)) = s.read_message() else {
            return;
        };
        let Some(nonce) = client_nonce(&first) else {
            return;
        };
        let salt = base64(b"0123456789abcdef");
        let server_first = match variant {
            Scram::OkAfterClientFirst => None,
            Scram::FewIterations => Some(format!("r={nonce}srv,s={salt},i=1000")),
            Scram::ForeignNonce => Some(format!("r=someone-else{nonce},s={salt},i=4096")),
            _ => Some(format!("r={nonce}srvNONCE,s={salt},i=4096")),
        };
        let mut out = Vec::new();
        if let Some(server_first) = server_first {
            s.write(&auth(11, server_first.as_bytes()));
            let Some((b'p', _client_final)) = s.read_message() else {
                return;
            };
            match variant {
                Scram::TamperedSignature => {
                    let v = format!("v={}", base64(&[0x5a; 32]));
                    out.extend_from_slice(&auth(12, v.as_bytes()));
                }
                Scram::FinalWithoutSignature => {
                    out.extend_from_slice(&auth(12, b"x=nothing"));
                }
                _ => {}
            }
        }
        // What a server that skipped the proof would send next.
        out.extend_from_slice(&support::auth_ok());
        out.extend_from_slice(&ready());
        s.write(&out);
        // A client that accepted this would now send its query.
        if let Some((tag, _)) = s.read_message() {
            if tag == b'P' || tag == b'Q' {
                post_auth.fetch_add(1, Ordering::SeqCst);
            }
        }
        s.close();
    })
}

#[test]
fn scram_impostors_are_rejected() {
    for variant in [
        Scram::TamperedSignature,
        Scram::OkWithoutFinal,
        Scram::OkAfterClientFirst,
        Scram::FinalWithoutSignature,
        Scram::FewIterations,
        Scram::ForeignNonce,
    ] {
        let post_auth = Arc::new(AtomicUsize::new(0));
        let fake = scram_impostor(variant, post_auth.clone());
        let client: Client = client_at(fake.addr, |c| c.password(PASSWORD));
        let result = guard(&format!("{variant:?}"), move || {
            let r = block_on(client.query("SELECT 1", &[]));
            drop(fake);
            r
        });
        let e: Error = match result {
            Ok(_) => panic!("{variant:?}: the client reported success"),
            Err(e) => e,
        };
        eprintln!("{variant:?}: {e}");
        assert!(e.is_auth(), "{variant:?}: not an auth error: {e}");
        assert!(!e.to_string().contains(PASSWORD), "{variant:?}: {e}");
        assert!(!format!("{e:?}").contains(PASSWORD), "{variant:?}: {e:?}");
        assert_eq!(
            post_auth.load(Ordering::SeqCst),
            0,
            "{variant:?}: the client went on to send a query"
        );
    }
}
