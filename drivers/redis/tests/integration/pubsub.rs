//! Pub/sub against a real redis-server: delivery and order over RESP3 and RESP2, patterns,
//! shard channels, unsubscribe, backpressure, reconnection after `CLIENT KILL` and after a
//! server restart, consumption from tokio, plain threads and the loop's own workers.

use std::time::Duration;

use corelane_redis::{Client, Cmd, Config, Message, Protocol, Subscriber, SubscriberOptions};
use corelane_testkit::RedisServer;
use futures_lite::future::block_on;

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    Client::new(Config::from_url(&server.url()).unwrap().protocol(protocol)).unwrap()
}

/// Fast reconnects, so the fault tests do not wait seconds.
fn quick() -> SubscriberOptions {
    SubscriberOptions::default()
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200))
}

/// The next message, or a panic after `limit` (a hang is a failure, not a timing assertion).
fn next_within(sub: &mut Subscriber, limit: Duration) -> Message {
    let got = block_on(futures_lite::future::or(
        async { sub.next().await },
        async {
            async_io_sleep(limit).await;
            None
        },
    ));
    got.unwrap_or_else(|| panic!("no message within {limit:?}"))
}

/// A sleep usable from any thread without a runtime: a helper thread completes a oneshot.
async fn async_io_sleep(d: Duration) {
    let (tx, rx) = corelane_runtime::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = tx.send(());
    });
    let _ = rx.await;
}

fn text(m: &Message) -> (&str, Option<&str>, &str) {
    (
        m.channel_str().unwrap(),
        m.pattern
            .as_deref()
            .map(|p| std::str::from_utf8(p).unwrap()),
        m.payload_str().unwrap(),
    )
}

/// Publishes on `channel` until the subscriber receives one of those messages (bounded):
/// proves it is subscribed again after a fault, whenever the reconnection lands.
fn publish_until_received(c: &Client, sub: &mut Subscriber, channel: &str) -> Message {
    for attempt in 0..400 {
        let payload = format!("probe-{attempt}");
        // Errors are expected while the server is restarting.
        let _ = block_on(c.publish::<i64>(channel, payload.as_str()));
        let got = block_on(futures_lite::future::or(
            async { sub.next().await },
            async {
                async_io_sleep(Duration::from_millis(50)).await;
                None
            },
        ));
        if let Some(m) = got {
            if m.channel_str() == Some(channel) {
                return m;
            }
        }
    }
    panic!("the subscriber never received on {channel} again");
}

fn delivery_in_order(protocol: Protocol) {
    let server = RedisServer::start().unwrap();
    let c = client(&server, protocol);
    let mut sub = c.subscriber().unwrap();
    block_on(sub.subscribe(["a", "b"])).unwrap();
    block_on(sub.psubscribe(["news.*"])).unwrap();
    block_on(sub.ssubscribe(["shard"])).unwrap();
    assert!(sub.is_connected());
    assert_eq!(sub.channels(), vec!["a", "b"]);
    assert_eq!(sub.patterns(), vec!["news.*"]);
    assert_eq!(sub.shard_channels(), vec!["shard"]);

    for i in 0..100 {
        let ch = if i % 2 == 0 { "a" } else { "b" };
        let receivers: i64 = block_on(c.publish(ch, format!("m{i}"))).unwrap();
        assert_eq!(receivers, 1);
    }
    block_on(c.publish::<i64>("news.sport", "goal")).unwrap();
    block_on(c.query::<i64>(Cmd::new("SPUBLISH").arg("shard").arg("s1"))).unwrap();
    block_on(c.publish::<i64>("a", b"\x00\xff bin".as_slice())).unwrap();

    for i in 0..100 {
        let m = next_within(&mut sub, Duration::from_secs(10));
        let ch = if i % 2 == 0 { "a" } else { "b" };
        assert_eq!(text(&m), (ch, None, format!("m{i}").as_str()));
        assert!(!m.sharded);
    }
    let m = next_within(&mut sub, Duration::from_secs(10));
    assert_eq!(text(&m), ("news.sport", Some("news.*"), "goal"));
    let m = next_within(&mut sub, Duration::from_secs(10));
    assert_eq!(text(&m), ("shard", None, "s1"));
    assert!(m.sharded);
    let m = next_within(&mut sub, Duration::from_secs(10));
    assert_eq!(&m.payload[..], b"\x00\xff bin");
    assert_eq!(sub.connects(), 1);
}

#[test]
fn delivery_in_order_resp3() {
    delivery_in_order(Protocol::Resp3);
}

#[test]
fn delivery_in_order_resp2() {
    delivery_in_order(Protocol::Resp2);
}

#[test]
fn unsubscribe_stops_delivery() {
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let server = RedisServer::start().unwrap();
        let c = client(&server, protocol);
        let mut sub = c.subscriber().unwrap();
        block_on(sub.subscribe(["keep", "drop"])).unwrap();
        block_on(sub.psubscribe(["p.*"])).unwrap();
        block_on(sub.unsubscribe(["drop"])).unwrap();
        block_on(sub.punsubscribe(Vec::<&str>::new())).unwrap(); // all patterns
        assert_eq!(sub.channels(), vec!["keep"]);
        assert!(sub.patterns().is_empty());
        // PUBLISH counts the receivers: deterministic, no waiting for an absence.
        assert_eq!(block_on(c.publish::<i64>("drop", "x")).unwrap(), 0);
        assert_eq!(block_on(c.publish::<i64>("p.x", "x")).unwrap(), 0);
        assert_eq!(block_on(c.publish::<i64>("keep", "k")).unwrap(), 1);
        // The next message is the kept channel's: nothing from the others slipped in.
        let m = next_within(&mut sub, Duration::from_secs(10));
        assert_eq!(text(&m), ("keep", None, "k"));
        block_on(sub.unsubscribe(Vec::<&str>::new())).unwrap();
        assert_eq!(block_on(c.publish::<i64>("keep", "k")).unwrap(), 0);
        // Unsubscribed from everything, the connection still takes new subscriptions.
        block_on(sub.subscribe(["again"])).unwrap();
        assert_eq!(block_on(c.publish::<i64>("again", "yes")).unwrap(), 1);
        let m = next_within(&mut sub, Duration::from_secs(10));
        assert_eq!(text(&m), ("again", None, "yes"));
    }
}

#[test]
fn client_kill_resubscribes() {
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let server = RedisServer::start().unwrap();
        let c = client(&server, protocol);
        let mut sub = c.subscriber_with(quick()).unwrap();
        block_on(sub.subscribe(["events"])).unwrap();
        block_on(sub.psubscribe(["ev.*"])).unwrap();
        block_on(c.publish::<i64>("events", "before")).unwrap();
        assert_eq!(
            text(&next_within(&mut sub, Duration::from_secs(10))),
            ("events", None, "before")
        );

        let killed: i64 =
            block_on(c.query(Cmd::new("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))).unwrap();
        assert_eq!(killed, 1);
        publish_until_received(&c, &mut sub, "events");
        assert!(sub.connects() >= 2, "connects: {}", sub.connects());
        assert!(sub.last_error().is_some_and(|e| e.is_closed()));
        // Patterns came back too.
        let m = publish_until_received(&c, &mut sub, "ev.x");
        assert_eq!(m.pattern.as_deref(), Some(&b"ev.*"[..]));

        // A subscription made after the reconnection works, and nothing is doubled.
        block_on(sub.subscribe(["later"])).unwrap();
        assert_eq!(block_on(c.publish::<i64>("later", "l")).unwrap(), 1);
        let subs: Vec<(String, i64)> =
            block_on(c.query(Cmd::new("PUBSUB").arg("NUMSUB").arg("events").arg("later")))
                .map(|v: Vec<Vec<u8>>| {
                    v.chunks(2)
                        .map(|p| {
                            (
                                String::from_utf8(p[0].clone()).unwrap(),
                                String::from_utf8(p[1].clone()).unwrap().parse().unwrap(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        assert_eq!(subs, vec![("events".into(), 1), ("later".into(), 1)]);
    }
}

#[test]
fn server_restart_resumes() {
    let mut server = RedisServer::start().unwrap();
    let c = client(&server, Protocol::Resp3);
    let mut sub = c.subscriber_with(quick()).unwrap();
    block_on(sub.subscribe(["r"])).unwrap();
    server.kill();
    // While the server is down, a new subscription fails with the connect error, but stays
    // wanted and is applied once the server is back.
    let pending = sub.subscribe(["while-down"]);
    std::thread::sleep(Duration::from_millis(100));
    server.restart().unwrap();
    let _ = block_on(pending);
    publish_until_received(&c, &mut sub, "r");
    publish_until_received(&c, &mut sub, "while-down");
    assert!(sub.connects() >= 2);
}

#[test]
fn backpressure_loses_nothing_the_server_keeps() {
    let server = RedisServer::start().unwrap();
    let c = client(&server, Protocol::Resp3);
    let mut sub = c
        .subscriber_with(SubscriberOptions::default().capacity(4))
        .unwrap();
    block_on(sub.subscribe(["bp"])).unwrap();
    let payload = "x".repeat(1000);
    for i in 0..2000 {
        block_on(c.publish::<i64>("bp", format!("{i}:{payload}"))).unwrap();
    }
    // The inbox holds 4; the rest waits in the socket and the server's output buffer.
    for i in 0..2000 {
        let m = next_within(&mut sub, Duration::from_secs(10));
        let (n, rest) = m.payload_str().unwrap().split_once(':').unwrap();
        assert_eq!(n.parse::<usize>().unwrap(), i);
        assert_eq!(rest.len(), 1000);
    }
    // Still subscribed and responsive after all the pauses.
    block_on(c.publish::<i64>("bp", "end")).unwrap();
    assert_eq!(
        next_within(&mut sub, Duration::from_secs(10)).payload_str(),
        Some("end")
    );
    assert_eq!(sub.connects(), 1);
}

#[test]
fn consumed_from_tokio_with_a_handle() {
    let server = RedisServer::start().unwrap();
    let c = client(&server, Protocol::Resp3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut sub = c.subscriber().unwrap();
        let handle = sub.handle();
        handle.subscribe(["t1"]).await.unwrap();
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 20 {
                let m = sub.next().await.unwrap();
                got.push(m.payload_str().unwrap().to_owned());
            }
            got
        });
        for i in 0..10 {
            assert_eq!(c.publish::<i64>("t1", format!("a{i}")).await.unwrap(), 1);
        }
        // Subscribing while the subscriber is consumed in another task.
        handle.subscribe(["t2"]).await.unwrap();
        for i in 0..10 {
            assert_eq!(c.publish::<i64>("t2", format!("b{i}")).await.unwrap(), 1);
        }
        let got = tokio::time::timeout(Duration::from_secs(10), consumer)
            .await
            .unwrap()
            .unwrap();
        let want: Vec<String> = (0..10)
            .map(|i| format!("a{i}"))
            .chain((0..10).map(|i| format!("b{i}")))
            .collect();
        assert_eq!(got, want);
    });
}

#[test]
fn consumed_from_a_plain_thread_and_on_a_worker() {
    let server = RedisServer::start().unwrap();
    let c = client(&server, Protocol::Resp2);
    let mut sub = c.subscriber().unwrap();
    block_on(sub.subscribe(["plain"])).unwrap();
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..50 {
            got.push(
                block_on(sub.next())
                    .unwrap()
                    .payload_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        got
    });
    for i in 0..50 {
        block_on(c.publish::<i64>("plain", i.to_string())).unwrap();
    }
    let got = consumer.join().unwrap();
    assert_eq!(got, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());

    // A subscriber consumed by a task on one of the loop's workers.
    let workers = corelane_runtime::resolve(None).unwrap();
    let c2 = c.clone();
    let task = workers.worker(0).unwrap().spawn(move || async move {
        let mut sub = c2.subscriber().unwrap();
        sub.subscribe(["onloop"]).await.unwrap();
        c2.publish::<i64>("onloop", "here").await.unwrap();
        sub.next().await.unwrap().payload_str().map(str::to_owned)
    });
    assert_eq!(block_on(task).unwrap().as_deref(), Some("here"));
}

#[test]
fn dropping_the_subscriber_closes_its_connection() {
    let server = RedisServer::start().unwrap();
    let c = client(&server, Protocol::Resp3);
    let sub = c.subscriber().unwrap();
    let handle = sub.handle();
    block_on(sub.subscribe(["gone"])).unwrap();
    assert_eq!(block_on(c.publish::<i64>("gone", "x")).unwrap(), 1);
    drop(sub);
    let mut receivers = 1;
    for _ in 0..200 {
        receivers = block_on(c.publish::<i64>("gone", "x")).unwrap();
        if receivers == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(receivers, 0, "the subscriber's connection stayed open");
    let err = block_on(handle.subscribe(["more"])).unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[test]
fn refused_subscribe_is_a_server_error() {
    let server = RedisServer::builder()
        .user("limited", "on >pw ~* &allowed +@all")
        .start()
        .unwrap();
    let config = Config::from_url(&server.url())
        .unwrap()
        .username("limited")
        .password("pw");
    let c = Client::new(config).unwrap();
    let mut sub = c.subscriber().unwrap();
    let err = block_on(sub.subscribe(["forbidden"])).unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"), "{err}");
    assert!(sub.channels().is_empty(), "a refused channel is forgotten");
    // The connection is fine for what is allowed.
    block_on(sub.subscribe(["allowed"])).unwrap();
    block_on(c.publish::<i64>("allowed", "ok")).unwrap();
    assert_eq!(
        next_within(&mut sub, Duration::from_secs(10)).payload_str(),
        Some("ok")
    );
}

#[test]
fn wrong_password_fails_the_subscribe_clearly() {
    let server = RedisServer::builder().requirepass("right").start().unwrap();
    let bad = Config::from_url(&server.url()).unwrap().password("wrong");
    let c = Client::new(bad).unwrap();
    let sub = c.subscriber_with(quick()).unwrap();
    let err = block_on(sub.subscribe(["x"])).unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(!sub.is_connected());

    // With the right password (RESP2: AUTH as its own command), all is well.
    let good = Config::from_url(&server.url())
        .unwrap()
        .password("right")
        .protocol(Protocol::Resp2)
        .client_name("subscriber");
    let c = Client::new(good).unwrap();
    let mut sub = c.subscriber().unwrap();
    block_on(sub.subscribe(["x"])).unwrap();
    block_on(c.publish::<i64>("x", "in")).unwrap();
    assert_eq!(
        next_within(&mut sub, Duration::from_secs(10)).payload_str(),
        Some("in")
    );
    let list: String =
        block_on(c.query(Cmd::new("CLIENT").arg("LIST").arg("TYPE").arg("pubsub"))).unwrap();
    assert!(list.contains("name=subscriber"), "{list}");
}
