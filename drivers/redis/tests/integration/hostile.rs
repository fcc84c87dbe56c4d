//! A scripted fake server (std threads in the test) for what a real Redis never sends: random
//! bytes, lengths claiming gigabytes, replies cut mid-frame, replies nobody asked for. Each
//! must end the call with a typed error, panic nothing, allocate nothing big, and leave the
//! worker's other connections (to a real redis-server) untouched.

use crate::support;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{
    block_on, bulk, client, client_with, guard, on_worker, rss_kib, FakeServer, HANG,
};
use corelane_redis::{Client, Error, Pipeline, Protocol};
use corelane_testkit::RedisServer;

/// RESP type bytes: a garbage reply starting with none of these is refused at its first byte.
const TYPE_BYTES: &[u8] = b"+-:$*_#,(!=%~|>";

/// The calls a healthy client makes on the same worker while the hostile one is abused.
async fn healthy_calls(c: &Client, tag: &str, rounds: usize) -> Result<(), String> {
    for i in 0..rounds {
        let key = format!("healthy:{tag}:{i}");
        c.set::<()>(&key, i)
            .await
            .map_err(|e| format!("{key}: {e}"))?;
        let got = c
            .get::<i64>(&key)
            .await
            .map_err(|e| format!("{key}: {e}"))?;
        if got != i as i64 {
            return Err(format!("{key}: got {got}"));
        }
        corelane_runtime::task::yield_now().await;
    }
    Ok(())
}

/// Runs `hostile` and a stream of healthy calls concurrently on worker 0, then healthy calls
/// once more; returns what `hostile` returned.
fn side_by_side<T, F, Fut>(healthy: &Client, tag: &str, hostile: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let (healthy, tag) = (healthy.clone(), tag.to_owned());
    let (out, during, after) = guard("hostile and healthy calls on one worker", move || {
        on_worker(0, move || async move {
            let (out, during) =
                futures_lite::future::zip(hostile(), healthy_calls(&healthy, &tag, 200)).await;
            let after = healthy_calls(&healthy, &format!("{tag}:after"), 20).await;
            (out, during, after)
        })
    });
    during.unwrap();
    after.unwrap();
    out
}

fn real_server() -> (RedisServer, Client) {
    let server = RedisServer::start().unwrap();
    let c = client(&server.url());
    (server, c)
}

#[test]
fn random_bytes_are_a_protocol_error_and_other_connections_are_unaffected() {
    let (_server, healthy) = real_server();
    // Each connection gets the handshake, then garbage for its first command, then is closed.
    let fake = FakeServer::start(|mut s| {
        if s.next_command().is_none() {
            return;
        }
        let mut rng = fastrand::Rng::with_seed(s.index as u64);
        let len = rng.usize(1..4096);
        let mut garbage: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if s.index % 2 == 0 && TYPE_BYTES.contains(&garbage[0]) {
            // Even connections: refused at the first byte.
            garbage[0] = 0x01;
        }
        s.write(&garbage);
        // Odd connections (which may start like a valid frame): end the stream.
        if s.index % 2 == 1 {
            s.close();
        } else {
            s.wait_for_close();
        }
    });
    let url = fake.url();
    let outcomes = side_by_side(&healthy, "random", move || async move {
        let hostile = client(&url);
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            outcomes.push(hostile.get::<String>("k").await);
        }
        outcomes
    });
    assert_eq!(outcomes.len(), 40);
    for (i, r) in outcomes.iter().enumerate() {
        match r {
            Err(e) => assert!(e.is_closed(), "call {i}: {e:?}"),
            // Fully random bytes can, rarely, spell a valid reply; never on an even connection.
            Ok(v) => assert!(i % 2 == 1, "call {i}: garbage accepted as {v:?}"),
        }
        if i % 2 == 0 {
            let e = r.as_ref().unwrap_err();
            assert!(e.is_protocol(), "call {i}: {e:?}");
        }
    }
    assert!(fake.accepted() >= 40, "every failure reconnects");
}

#[test]
fn random_bytes_from_a_thread() {
    let fake = FakeServer::start(|mut s| {
        if s.next_command().is_none() {
            return;
        }
        s.write(b"\x00\xff garbage \r\n\r\n*-7\r\n");
        s.wait_for_close();
    });
    let c = client(&fake.url());
    for _ in 0..5 {
        let c = c.clone();
        let e = guard("garbage from a thread", move || {
            block_on(c.get::<String>("k")).unwrap_err()
        });
        assert!(e.is_protocol() && e.is_closed(), "{e:?}");
    }
}

/// Sends `reply` to the first command of every connection, then keeps the socket open until
/// the client closes it.
fn stall_after(reply: &'static [u8]) -> FakeServer {
    FakeServer::start(move |mut s| {
        if s.next_command().is_none() {
            return;
        }
        s.write(reply);
        s.wait_for_close();
    })
}

/// Sends `reply` to the first command of every connection, then closes it.
fn close_after(reply: &'static [u8]) -> FakeServer {
    FakeServer::start(move |mut s| {
        if s.next_command().is_none() {
            return;
        }
        s.write(reply);
        s.close();
    })
}

/// RSS may grow a little (allocator, buffers), never by anything like the claimed size.
const RSS_SLACK_KIB: u64 = 200 * 1024;

#[test]
fn a_bulk_claiming_4_gib_is_a_typed_error_without_a_big_allocation() {
    let (_server, healthy) = real_server();
    let fake = stall_after(b"$4294967296\r\nabcdef");
    let url = fake.url();
    let before = rss_kib();
    let errors = side_by_side(&healthy, "4gib", move || async move {
        let hostile = client(&url);
        let mut errors = Vec::new();
        for _ in 0..5 {
            errors.push(hostile.get::<Vec<u8>>("k").await.unwrap_err());
        }
        errors
    });
    let after = rss_kib();
    for e in &errors {
        assert!(e.is_protocol(), "{e:?}");
        assert!(e.is_closed(), "{e:?}");
    }
    assert!(
        after < before + RSS_SLACK_KIB,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // From a thread (the bridge reader decodes it) as well.
    let c = client(&fake.url());
    let e = guard("4 GiB bulk from a thread", move || {
        block_on(c.get::<Vec<u8>>("k")).unwrap_err()
    });
    assert!(e.is_protocol(), "{e:?}");
    assert!(rss_kib() < before + RSS_SLACK_KIB);
}

#[test]
fn lengths_within_the_limits_but_never_sent_allocate_nothing_big() {
    let (_server, healthy) = real_server();
    let before = rss_kib();
    // A 512 MiB bulk (exactly the limit), an array of 4 billion elements, a map of 4 billion
    // pairs: each header followed by a few bytes, then the stream ends.
    for reply in [
        &b"$536870912\r\nabc"[..],
        &b"*4294967295\r\n:1\r\n:2\r\n"[..],
        &b"%4294967295\r\n+a\r\n:1\r\n"[..],
    ] {
        let fake = close_after(reply);
        let url = fake.url();
        let outcomes = side_by_side(&healthy, "claims", move || async move {
            let hostile = client_with(&url, Protocol::Resp3);
            let mut out = Vec::new();
            for _ in 0..3 {
                out.push(hostile.get::<Vec<u8>>("k").await.unwrap_err());
            }
            out
        });
        for e in &outcomes {
            assert!(e.is_closed(), "{e:?}");
        }
        let now = rss_kib();
        assert!(
            now < before + RSS_SLACK_KIB,
            "after {:?}: RSS grew from {before} KiB to {now} KiB",
            String::from_utf8_lossy(&reply[..reply.len().min(16)])
        );
    }
}

#[test]
fn a_reply_cut_mid_frame_is_closed() {
    let (_server, healthy) = real_server();
    for reply in [
        &b"$10\r\nabc"[..],
        &b"$10\r\n"[..],
        &b"$1"[..],
        &b"*3\r\n$1\r\na\r\n$1\r\n"[..],
        &b"+OK"[..],
        &b""[..],
    ] {
        let fake = close_after(reply);
        let url = fake.url();
        let errors = side_by_side(&healthy, "cut", move || async move {
            let hostile = client(&url);
            let mut errors = Vec::new();
            for _ in 0..3 {
                errors.push(hostile.get::<Vec<u8>>("k").await.unwrap_err());
            }
            // A pipeline cut in its second reply.
            errors
        });
        for e in &errors {
            assert!(e.is_closed(), "{:?}: {e:?}", String::from_utf8_lossy(reply));
        }
    }
    // A pipeline whose second reply is cut: the whole call ends closed, from both paths.
    let fake = FakeServer::start(|mut s| {
        for _ in 0..3 {
            if s.next_command().is_none() {
                return;
            }
        }
        s.write(b"$1\r\na\r\n$5\r\nab");
        s.close();
    });
    let url = fake.url();
    let e = side_by_side(&healthy, "cut-pipeline", move || async move {
        let mut p = Pipeline::new();
        p.get("a").get("b").get("c");
        client(&url).pipeline::<Vec<String>>(&p).await.unwrap_err()
    });
    assert!(e.is_closed(), "{e:?}");
    let c = client(&fake.url());
    let e = guard("cut pipeline from a thread", move || {
        let mut p = Pipeline::new();
        p.get("a").get("b").get("c");
        block_on(c.pipeline::<Vec<String>>(&p)).unwrap_err()
    });
    assert!(e.is_closed(), "{e:?}");
}

/// A fake server answering `GET key` with `value-of-key`; on its first connection, the first
/// reply is followed (in the same write) by an extra reply nobody asked for. Reports on
/// `closed` when the client closes that first connection.
fn extra_reply_server() -> (FakeServer, mpsc::Receiver<usize>) {
    let (tx, rx) = mpsc::channel();
    let tx = Arc::new(Mutex::new(tx));
    let fake = FakeServer::start(move |mut s| {
        let mut first = true;
        while let Some(cmd) = s.next_command() {
            let key = cmd.get(1).cloned().unwrap_or_default();
            let mut reply = bulk(format!("value-of-{}", String::from_utf8_lossy(&key)).as_bytes());
            if first && s.index == 0 {
                reply.extend_from_slice(&bulk(b"extra"));
            }
            first = false;
            s.write(&reply);
        }
        let _ = tx.lock().unwrap().send(s.index);
    });
    (fake, rx)
}

/// Checks the three calls: the first gets its reply, the second never gets the extra reply
/// (it errors, or gets its own reply on a new connection), and the client then reconnects.
fn check_extra_reply(
    results: &[Result<String, Error>],
    fake: &FakeServer,
    closed: &mpsc::Receiver<usize>,
) {
    assert_eq!(results[0].as_ref().unwrap(), "value-of-k1");
    match &results[1] {
        Ok(v) => assert_eq!(v, "value-of-k2", "the unsolicited reply was taken as k2's"),
        Err(e) => assert!(e.is_closed(), "{e:?}"),
    }
    assert_eq!(results[2].as_ref().unwrap(), "value-of-k3");
    // The out-of-step connection was closed by the client, and a new one opened. The client
    // closes its other connections when it is dropped at the end of the test's closure; the
    // fake server's threads may report those first under load, so wait for connection 0 among
    // the reports.
    let deadline = std::time::Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let index = closed
            .recv_timeout(left)
            .expect("the first connection was never closed");
        if index == 0 {
            break;
        }
    }
    assert!(fake.accepted() >= 2);
}

#[test]

fn an_unsolicited_reply_closes_the_connection_on_a_worker() {
    let (_server, healthy) = real_server();
    let (fake, closed) = extra_reply_server();
    let url = fake.url();
    let results = side_by_side(&healthy, "unsolicited", move || async move {
        let c = client(&url);
        let r1 = c.get::<String>("k1").await;
        // Immediately, on the same task: the extra reply is already in the input buffer.
        let r2 = c.get::<String>("k2").await;
        let mut r3 = c.get::<String>("k3").await;
        for _ in 0..10 {
            if r3.is_ok() {
                break;
            }
            corelane_runtime::task::sleep(Duration::from_millis(50)).await;
            r3 = c.get::<String>("k3").await;
        }
        vec![r1, r2, r3]
    });
    check_extra_reply(&results, &fake, &closed);
}

#[test]
fn an_unsolicited_reply_closes_the_connection_from_a_thread() {
    let (fake, closed) = extra_reply_server();
    let c = client(&fake.url());
    let c1 = c.clone();
    let r1 = guard("first call", move || block_on(c1.get::<String>("k1")));
    assert_eq!(r1.unwrap(), "value-of-k1");
    // The loop's reader finds the extra reply with nothing waiting: it closes the connection.
    assert_eq!(
        closed
            .recv_timeout(HANG)
            .expect("the first connection was never closed"),
        0
    );
    // Every later call (on any worker) gets its own reply, on a new connection.
    for k in ["k2", "k3", "k4", "k5"] {
        let c1 = c.clone();
        let got = guard("a call after the unsolicited reply", move || {
            block_on(c1.get::<String>(k))
        });
        match got {
            Ok(v) => assert_eq!(v, format!("value-of-{k}")),
            Err(e) => panic!("{k}: {e:?}"),
        }
    }
    assert!(fake.accepted() >= 2);
}

/// A server that answers every `GET` with `+OK` (and `LRANGE` with three or four elements).
fn confused_server() -> support::FakeServer {
    support::FakeServer::start(|mut s| {
        while let Some(command) = s.next_command() {
            match String::from_utf8_lossy(&command[0])
                .to_ascii_uppercase()
                .as_str()
            {
                "GET" | "HGET" => s.write(b"+OK\r\n"),
                "PING" => s.write(b"+PONG\r\n"),
                "LRANGE" if command.get(1).map(Vec::as_slice) == Some(b"four") => {
                    s.write(b"*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n")
                }
                "LRANGE" => s.write(b"*3\r\n:1\r\n:2\r\n:3\r\n"),
                _ => s.write(b"+OK\r\n"),
            }
        }
    })
}

/// `GET` answers a bulk string or nil: a simple string is not its value, even though `String`
/// takes one from `PING`.
#[test]
fn a_simple_string_is_not_a_bulk_reply() {
    let fake = confused_server();
    let c = client(&fake.url());
    let c1 = c.clone();
    let (typed, hget, raw, as_value, ping) = guard("confused GET", move || {
        block_on(async {
            (
                c1.get::<String>("k").await,
                c1.hget::<Option<String>>("h", "f").await,
                c1.query::<String>(corelane_redis::Cmd::new("get").arg("k"))
                    .await,
                c1.get::<corelane_redis::Value>("k").await,
                c1.ping::<String>().await,
            )
        })
    });
    for (what, e) in [
        ("typed", typed.unwrap_err()),
        ("hget", hget.unwrap_err()),
        ("raw", raw.unwrap_err()),
        ("value", as_value.unwrap_err()),
    ] {
        assert!(e.is_type_mismatch(), "{what}: {e:?}");
    }
    assert_eq!(ping.unwrap(), "PONG");
    // The same on a worker.
    let got = on_worker(0, move || async move { c.get::<String>("k").await });
    assert!(got.unwrap_err().is_type_mismatch());
}

/// The aggregate length limit is the client's setting: exactly the limit decodes, one more is
/// a protocol error that closes the connection.
#[test]
fn the_aggregate_length_limit_is_configurable() {
    let fake = confused_server();
    let config = corelane_redis::Config::from_url(&fake.url())
        .unwrap()
        .max_aggregate_len(3);
    let c = corelane_redis::Client::new(config).unwrap();
    let (three, four) = guard("aggregate limit", move || {
        block_on(async {
            (
                c.lrange::<Vec<i64>>("three", 0, -1).await,
                c.lrange::<Vec<i64>>("four", 0, -1).await,
            )
        })
    });
    assert_eq!(three.unwrap(), [1, 2, 3]);
    let e = four.unwrap_err();
    assert!(e.is_protocol() && e.is_closed(), "{e:?}");
}
