//! Faults a real memcached cannot produce, from a scripted fake server: corrupt bytes, a reply
//! cut mid-frame, an over-reply, a claimed length far beyond what was sent, a value for a key
//! nobody asked for, an endless line. Each ends only its own connection with a typed error —
//! never a panic, never a hang — and the worker lives on.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{on_worker, workers};
use corelane_memcached::proto::ErrorKind;
use corelane_memcached::{Client, Config, Error};
use corelane_testkit::ScriptedServer;

/// A fake server answering every request line with `reply(line)`; with `cut`, it closes right
/// after its first answer. It reports `"closed"` when the client closes the connection.
fn fake(reply: fn(&str) -> Vec<u8>, cut: bool) -> (ScriptedServer, mpsc::Receiver<&'static str>) {
    let (tx, rx) = mpsc::channel();
    let server = ScriptedServer::start(Duration::from_secs(20), move |_, stream: TcpStream| {
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => {
                    let _ = tx.send("closed");
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
            if writer.write_all(&reply(&line)).is_err() {
                return;
            }
            if cut {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    })
    .unwrap();
    (server, rx)
}

/// Runs two `get`s on worker 0 against `server`; returns their outcomes.
fn two_gets(server: &ScriptedServer) -> Vec<Result<Option<Vec<u8>>, Error>> {
    let workers = workers();
    let client = Client::new(Config::from_addr(server.addr())).unwrap();
    let panics_before = workers.worker(0).unwrap().panics();
    let outcomes = on_worker(&workers, 0, move || async move {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let got = client.get("k").await;
            outcomes.push(got.map(|item| item.map(|i| i.value.to_vec())));
        }
        outcomes
    });
    assert_eq!(
        workers.worker(0).unwrap().panics(),
        panics_before,
        "the worker panicked"
    );
    outcomes
}

fn is_protocol(outcome: &Result<Option<Vec<u8>>, Error>) -> bool {
    matches!(outcome, Err(Error::Protocol(_)))
}

#[test]
fn corrupt_bytes_close_only_that_connection() {
    let (server, closed) = fake(|_| b"HELLO WORLD\r\n".to_vec(), false);
    // A healthy connection on the same worker, to a real server, is untouched.
    let real = corelane_testkit::MemcachedServer::start().unwrap();
    let good = Client::new(Config::from_addr(real.addr())).unwrap();
    let check = |good: Client| {
        on_worker(&workers(), 0, move || async move {
            good.version().await.unwrap()
        })
    };
    check(good.clone());
    let accepted = real.stat("total_connections").unwrap();
    let outcomes = two_gets(&server);
    check(good);
    assert_eq!(
        real.stat("total_connections").unwrap(),
        accepted + 1,
        "the healthy connection was replaced"
    );
    assert!(outcomes.iter().all(is_protocol), "{outcomes:?}");
    // Each get met a fresh connection: the first one was closed by the client.
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)), Ok("closed"));
    assert_eq!(server.accepted(), 2);
}

#[test]
fn random_garbage_never_panics_or_hangs() {
    for _ in 0..20 {
        let (server, _closed) = fake(
            |line| {
                let mut rng = fastrand::Rng::with_seed(line.len() as u64 ^ fastrand::u64(..));
                let n = rng.usize(1..300);
                (0..n).map(|_| rng.u8(..)).collect()
            },
            false,
        );
        let workers = workers();
        let client = Client::new(
            Config::from_addr(server.addr()).with_command_timeout(Some(Duration::from_millis(300))),
        )
        .unwrap();
        let outcome = on_worker(&workers, 1, move || async move { client.get("k").await });
        // Random bytes are (almost surely) not a reply; a partial one waits and times out.
        assert!(
            matches!(
                outcome,
                Err(Error::Protocol(_) | Error::Timeout(_) | Error::Closed(_))
            ),
            "{outcome:?}"
        );
    }
}

#[test]
fn a_reply_cut_mid_frame_is_a_closed_connection() {
    let (server, _closed) = fake(|_| b"VALUE k 0 10\r\nabc".to_vec(), true);
    let outcomes = two_gets(&server);
    assert!(matches!(outcomes[0], Err(Error::Closed(_))), "{outcomes:?}");
    assert!(matches!(outcomes[1], Err(Error::Closed(_))), "{outcomes:?}");
}

#[test]
fn an_over_reply_closes_the_connection() {
    let (server, closed) = fake(|_| b"END\r\nEND\r\n".to_vec(), false);
    let outcomes = two_gets(&server);
    // The first END answers the get; the second answers nobody, so the connection closes
    // rather than hand it to the next request.
    assert_eq!(outcomes[0], Ok(None));
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)), Ok("closed"));
    assert!(server.accepted() >= 1);
}

#[test]
fn a_claimed_length_beyond_the_limit_fails_at_once() {
    // The server claims 99 GB and sends nothing more: the client must not wait for (or
    // reserve) it.
    let (server, _closed) = fake(|_| b"VALUE k 0 99999999999\r\n".to_vec(), false);
    let outcomes = two_gets(&server);
    assert!(outcomes.iter().all(is_protocol), "{outcomes:?}");
}

#[test]
fn a_value_for_another_key_is_out_of_step() {
    let (server, _closed) = fake(|_| b"VALUE other 0 1\r\nx\r\nEND\r\n".to_vec(), false);
    let outcomes = two_gets(&server);
    assert!(outcomes.iter().all(is_protocol), "{outcomes:?}");
}

#[test]
fn an_endless_line_is_refused() {
    let (server, _closed) = fake(|_| vec![b'a'; 10_000], false);
    let outcomes = two_gets(&server);
    assert!(outcomes.iter().all(is_protocol), "{outcomes:?}");
}

#[test]
fn a_server_error_keeps_the_connection() {
    let (server, _closed) = fake(|_| b"SERVER_ERROR out of memory\r\n".to_vec(), false);
    let outcomes = two_gets(&server);
    for outcome in &outcomes {
        match outcome {
            Err(Error::Server(e)) => {
                assert_eq!(e.kind, ErrorKind::Server);
                assert_eq!(e.message, "out of memory");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.accepted(), 1, "the connection was replaced");
}

#[test]
fn a_silent_server_times_out_and_loses_its_connection() {
    let (server, closed) = fake(|_| Vec::new(), false);
    let workers = workers();
    let config =
        Config::from_addr(server.addr()).with_command_timeout(Some(Duration::from_millis(200)));
    let client = Client::new(config).unwrap();
    let outcome = on_worker(&workers, 0, move || async move { client.get("k").await });
    assert_eq!(outcome, Err(Error::Timeout(Duration::from_millis(200))));
    // The overdue connection was closed, not left for the next caller to wait behind.
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)), Ok("closed"));
}

#[test]
fn the_client_and_its_calls_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let client = Client::new(Config::new("127.0.0.1", 1)).unwrap();
    send_sync(&client);
    send(&client.get("k"));
    send(&client.set_no_reply("k", "v"));
    send(&client.pipeline(&corelane_memcached::Pipeline::new()));
}
