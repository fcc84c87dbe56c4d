//! SCRAM's PBKDF2 runs off the worker (issue 9 A5): while a handshake derives its key, a
//! query on another connection of the same worker is answered as usual.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{
    auth, base64, client_at, client_for, guard, on_worker, shared_server, FakePg,
};
use corelane_pg_proto::auth::scram::ScramSha256;

/// The client nonce of a SASLInitialResponse body (`mechanism\0`, length, `n,,n=,r=NONCE`).
fn client_nonce(body: &[u8]) -> Option<String> {
    let nul = body.iter().position(|&b| b == 0)?;
    let data = std::str::from_utf8(body.get(nul + 5..)?).ok()?;
    data.split(',')
        .find_map(|p| p.strip_prefix("r="))
        .map(str::to_owned)
}

/// How long this build takes for `iterations` rounds of PBKDF2 (debug builds are slow).
fn pbkdf2_time(iterations: u32) -> Duration {
    let mut s = ScramSha256::with_nonce("", b"pw", "abc").unwrap();
    let first = format!("r=abcdef,s={},i={iterations}", base64(b"salt"));
    let job = s.begin_update(first.as_bytes()).unwrap();
    let t0 = Instant::now();
    let _ = job.run();
    t0.elapsed()
}

/// A server that asks for `iterations` rounds, then records how long the client took to
/// answer (its PBKDF2) and hangs up.
fn slow_scram_server(iterations: u32, derive: Arc<Mutex<Option<Duration>>>) -> FakePg {
    FakePg::start(move |mut s| {
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
        let server_first = format!("r={nonce}srv,s={salt},i={iterations}");
        s.write(&auth(11, server_first.as_bytes()));
        let sent = Instant::now();
        if let Some((b'p', _client_final)) = s.read_message() {
            *derive.lock().unwrap() = Some(sent.elapsed());
        }
        s.close();
    })
}

#[test]
fn a_scram_handshake_does_not_stall_its_worker() {
    support::two_workers();
    let server = shared_server();
    guard("scram off the loop", move || {
        // Size the server's iteration count so PBKDF2 takes about 1.5 s in this build.
        let probe = 20_000u32;
        let per_probe = pbkdf2_time(probe).as_secs_f64().max(1e-6);
        let iterations = ((f64::from(probe) * 1.5 / per_probe) as u32).clamp(4096, 1_000_000);
        let derive = Arc::new(Mutex::new(None));
        let fake = slow_scram_server(iterations, derive.clone());
        let slow = client_at(fake.addr, |c| c.password("secret"));
        let fast = client_for(&server, |c| c);
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let (worst, pings) = on_worker(0, move || async move {
            // The connection the pings use exists before the handshake starts.
            fast.query_one("SELECT 1", &[]).await.unwrap();
            let handshake = corelane_runtime::task::spawn(async move {
                let _ = slow.query_one("SELECT 1", &[]).await;
                flag.store(true, Ordering::SeqCst);
            })
            .unwrap();
            let mut worst = Duration::ZERO;
            let mut pings = 0u32;
            while !done.load(Ordering::SeqCst) {
                let t0 = Instant::now();
                let v: i32 = fast
                    .query_one("SELECT 1", &[])
                    .await
                    .unwrap()
                    .get(0)
                    .unwrap();
                assert_eq!(v, 1);
                worst = worst.max(t0.elapsed());
                pings += 1;
            }
            handshake.await;
            (worst, pings)
        });
        let derive = derive
            .lock()
            .unwrap()
            .expect("the client answered the server-first");
        eprintln!(
            "{iterations} iterations: PBKDF2 {derive:?}; {pings} pings meanwhile, worst {worst:?}"
        );
        // On the worker, PBKDF2 held every ping for its whole length. Off it, a ping waits
        // for nothing of it: a correctness bound, not a speed test.
        assert!(
            worst < derive / 2,
            "a ping waited {worst:?} while PBKDF2 took {derive:?}"
        );
    });
}
