//! A server that sends one reply too many (issue 9 C4): the next command must never return
//! that extra reply — whether or not the worker had a chance to read it before the command.

use std::time::Duration;

use crate::support::{bulk, client, guard, on_worker, FakeServer};

#[test]
fn an_extra_reply_never_becomes_the_next_gets_value() {
    // Each connection: GETs are answered with the key's name; after `GET extra` the server
    // sends one more bulk string nobody asked for.
    let server = FakeServer::start(|mut s| {
        while let Some(command) = s.next_command() {
            let key = command.get(1).cloned().unwrap_or_default();
            s.write(&bulk(&key));
            if key == b"extra" {
                // A moment later, in a write of its own (not with the reply).
                std::thread::sleep(Duration::from_millis(2));
                s.write(&bulk(b"surprise"));
            }
        }
    });
    let url = server.url();
    guard("extra reply", move || {
        on_worker(0, move || async move {
            let c = client(&url);
            for round in 0..20 {
                let got: String = c.get("extra").await.unwrap();
                assert_eq!(got, "extra");
                // Block the worker (its reader task cannot run) while the extra reply lands,
                // or let it run, alternately.
                if round % 2 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                } else {
                    corelane_runtime::task::sleep(Duration::from_millis(20)).await;
                }
                match c.get::<String>("next").await {
                    Ok(v) => assert_eq!(v, "next", "round {round}: the extra reply was taken"),
                    Err(e) => assert!(e.is_closed() || e.is_protocol(), "round {round}: {e}"),
                }
            }
        })
    });
}
