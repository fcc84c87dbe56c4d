//! Every command against a real memcached, on a worker (local path) and from a plain thread
//! (mailbox path); server errors, invalid requests, `noreply` interleaved, multi-get and
//! pipelines.

use crate::support;

use crate::support::{off_loop, on_worker, server_and_client, workers};
use corelane_memcached::proto::ErrorKind;
use corelane_memcached::{Client, Error, InvalidRequest, Options, Pipeline, Reply, Store, Stored};

async fn exercise(client: Client, p: &'static str) {
    let k = |s: &str| format!("{p}:{s}");
    let version = client.version().await.unwrap();
    assert!(
        version.starts_with(|c: char| c.is_ascii_digit()),
        "{version}"
    );

    assert_eq!(client.set(k("a"), "alpha").await.unwrap(), Stored::Stored);
    let item = client.get(k("a")).await.unwrap().unwrap();
    assert_eq!(
        (&item.key[..], &item.value[..], item.flags, item.cas),
        (k("a").as_bytes(), &b"alpha"[..], 0, None)
    );
    let opts = Options {
        flags: 42,
        exptime: 0,
    };
    assert_eq!(
        client
            .store(Store::Set, k("f"), "flagged", opts)
            .await
            .unwrap(),
        Stored::Stored
    );
    assert_eq!(client.get(k("f")).await.unwrap().unwrap().flags, 42);
    assert_eq!(client.get(k("missing")).await.unwrap(), None);

    assert_eq!(
        client.add(k("a"), "again").await.unwrap(),
        Stored::NotStored
    );
    assert_eq!(client.add(k("b"), "beta").await.unwrap(), Stored::Stored);
    assert_eq!(
        client.replace(k("missing"), "x").await.unwrap(),
        Stored::NotStored
    );
    assert_eq!(
        client.replace(k("b"), "beta2").await.unwrap(),
        Stored::Stored
    );
    assert_eq!(
        &client.get(k("b")).await.unwrap().unwrap().value[..],
        b"beta2"
    );

    let unique = client.gets(k("b")).await.unwrap().unwrap().cas.unwrap();
    assert_eq!(
        client.cas(k("b"), "beta3", unique).await.unwrap(),
        Stored::Stored
    );
    assert_eq!(
        client.cas(k("b"), "beta4", unique).await.unwrap(),
        Stored::Exists
    );
    assert_eq!(
        client.cas(k("missing"), "x", unique).await.unwrap(),
        Stored::NotFound
    );
    assert_eq!(
        &client.get(k("b")).await.unwrap().unwrap().value[..],
        b"beta3"
    );

    assert!(client.delete(k("b")).await.unwrap());
    assert!(!client.delete(k("b")).await.unwrap());
    assert_eq!(client.get(k("b")).await.unwrap(), None);

    assert_eq!(client.incr(k("n"), 1).await.unwrap(), None);
    client.set(k("n"), "10").await.unwrap();
    assert_eq!(client.incr(k("n"), 5).await.unwrap(), Some(15));
    assert_eq!(client.decr(k("n"), 20).await.unwrap(), Some(0));
    assert_eq!(client.decr(k("missing"), 1).await.unwrap(), None);
    match client.incr(k("a"), 1).await {
        Err(Error::Server(e)) => assert_eq!(e.kind, ErrorKind::Client, "{e}"),
        other => panic!("incr of a non-number: {other:?}"),
    }
    // The server error ended only that request: the connection goes on.
    assert_eq!(
        &client.get(k("a")).await.unwrap().unwrap().value[..],
        b"alpha"
    );

    assert!(client.touch(k("a"), 3600).await.unwrap());
    assert!(!client.touch(k("missing"), 3600).await.unwrap());

    // Values that look like protocol, empty values, big values.
    let tricky = "line1\r\nEND\r\nVALUE x 0 1\r\n";
    client.set(k("tricky"), tricky).await.unwrap();
    client.set(k("empty"), "").await.unwrap();
    let big = vec![b'z'; 700 * 1024];
    client.set(k("big"), &big).await.unwrap();
    assert_eq!(
        &client.get(k("tricky")).await.unwrap().unwrap().value[..],
        tricky.as_bytes()
    );
    assert_eq!(
        &client.get(k("empty")).await.unwrap().unwrap().value[..],
        b""
    );
    assert_eq!(
        client.get(k("big")).await.unwrap().unwrap().value.len(),
        big.len()
    );

    // Multi-get: the hits, in key order.
    let keys = [k("a"), k("missing"), k("tricky"), k("big")];
    let items = client.get_multi(&keys, false).await.unwrap();
    let got: Vec<&[u8]> = items.iter().map(|i| &i.key[..]).collect();
    assert_eq!(
        got,
        [
            k("a").as_bytes(),
            k("tricky").as_bytes(),
            k("big").as_bytes()
        ]
    );
    assert!(client
        .get_multi(&keys, true)
        .await
        .unwrap()
        .iter()
        .all(|i| i.cas.is_some()));

    // Refused before sending.
    let bad = [
        format!("{p} spaced"),
        "x".repeat(251),
        String::new(),
        format!("{p}\nnl"),
    ];
    for key in &bad {
        assert!(
            matches!(client.get(key).await, Err(Error::Invalid(_))),
            "{key:?}"
        );
        assert!(
            matches!(client.set_no_reply(key, "v").await, Err(Error::Invalid(_))),
            "{key:?}"
        );
    }
    let none: [&str; 0] = [];
    assert_eq!(
        client.get_multi(&none, false).await,
        Err(Error::Invalid(InvalidRequest::NoKeys))
    );
    let huge = vec![0u8; (1 << 20) + 1];
    assert!(matches!(
        client.set(k("huge"), &huge).await,
        Err(Error::Invalid(InvalidRequest::ValueTooLarge { .. }))
    ));
    assert_eq!(
        &client.get(k("a")).await.unwrap().unwrap().value[..],
        b"alpha"
    );
}

#[test]
fn every_command_on_a_worker_and_off_the_loop() {
    let workers = workers();
    let (server, client) = server_and_client(|c| c);
    for n in 0..workers.num_workers() {
        let client = client.clone();
        let prefix: &'static str = if n == 0 { "w0" } else { "w1" };
        on_worker(&workers, n, move || exercise(client, prefix));
    }
    off_loop(exercise(client.clone(), "off"));
    // flush_all, last: it empties the whole server.
    off_loop(async move {
        client.flush_all().await.unwrap();
        assert_eq!(client.get("off:a").await.unwrap(), None);
    });
    drop(server);
}

#[test]
fn no_reply_stores_interleaved_with_calls_and_pipelines() {
    let workers = workers();
    let (server, client) = server_and_client(|c| c);
    let local = client.clone();
    on_worker(&workers, 0, move || async move {
        // On one worker, calls share one connection: a get after a noreply set sees it.
        for i in 0..300 {
            let key = format!("nr:{i}");
            local.set_no_reply(&key, format!("v{i}")).await.unwrap();
            let item = local
                .get(&key)
                .await
                .unwrap()
                .expect("the noreply set went first");
            assert_eq!(item.value, format!("v{i}").as_bytes());
        }
        // Concurrent tasks mixing noreply stores with calls: every reply is its own.
        let tasks: Vec<_> = (0..32)
            .map(|t| {
                let client = local.clone();
                corelane_runtime::task::spawn(async move {
                    for i in 0..50 {
                        let key = format!("nrt:{t}:{i}");
                        client.set_no_reply(&key, format!("{t}/{i}")).await.unwrap();
                        let got = client.get(&key).await.unwrap().unwrap();
                        assert_eq!(got.value, format!("{t}/{i}").as_bytes());
                        // A server error between noreply stores answers its own request.
                        match client.incr(&key, 1).await {
                            Err(Error::Server(e)) => assert_eq!(e.kind, ErrorKind::Client),
                            other => panic!("incr of a non-number: {other:?}"),
                        }
                    }
                })
                .unwrap()
            })
            .collect();
        for t in tasks {
            t.await;
        }
        // A pipeline with noreply stores between replies: slots count only the replies.
        let mut pipe = Pipeline::new();
        for i in 0..100 {
            pipe.get(format!("pl:{i}"));
            pipe.store_no_reply(
                Store::Set,
                format!("pl:{i}"),
                format!("p{i}"),
                Options::default(),
            );
            pipe.get(format!("pl:{i}"));
        }
        assert_eq!(pipe.len(), 200);
        let replies = local.pipeline(&pipe).await.unwrap();
        assert_eq!(replies.len(), 200);
        for i in 0..100 {
            assert_eq!(
                replies[2 * i],
                Reply::Values(vec![]),
                "before the store {i}"
            );
            let Reply::Values(items) = &replies[2 * i + 1] else {
                panic!("{:?}", replies[2 * i + 1])
            };
            assert_eq!(items[0].value, format!("p{i}").as_bytes());
        }
    });
    // Off the loop: noreply through the mailbox; the next calls may run on another worker's
    // connection, so wait for the store to show.
    off_loop(async move {
        client.set_no_reply("off:nr", "quiet").await.unwrap();
        let mut seen = None;
        for _ in 0..1000 {
            seen = client.get("off:nr").await.unwrap();
            if seen.is_some() {
                break;
            }
        }
        assert_eq!(seen.unwrap().value, &b"quiet"[..]);
    });
    drop(server);
}

#[test]
fn multi_get_and_pipeline_batches() {
    let workers = workers();
    let (server, client) = server_and_client(|c| c);
    let local = client.clone();
    on_worker(&workers, 1, move || async move {
        let mut load = Pipeline::new();
        for i in 0..1000 {
            load.set(format!("m:{i}"), support::value_of("m:", i));
        }
        let stored = local.pipeline(&load).await.unwrap();
        assert!(stored.iter().all(|r| *r == Reply::Stored));
        let keys: Vec<String> = (0..1000).map(|i| format!("m:{i}")).collect();
        let items = local.get_multi(&keys, false).await.unwrap();
        assert_eq!(items.len(), 1000);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(item.key, keys[i].as_bytes());
            assert_eq!(item.value, support::value_of("m:", i).as_bytes());
        }
        let mut gets = Pipeline::new();
        for i in (0..1000).rev() {
            gets.get(format!("m:{i}"));
        }
        gets.delete("m:0")
            .arith(true, "m:missing", 1)
            .touch("m:1", 100);
        let replies = local.pipeline(&gets).await.unwrap();
        for (k, reply) in replies[..1000].iter().enumerate() {
            let i = 999 - k;
            let Reply::Values(items) = reply else {
                panic!("{reply:?}")
            };
            assert_eq!(
                items[0].value,
                support::value_of("m:", i).as_bytes(),
                "reply {k}"
            );
        }
        assert_eq!(
            replies[1000..],
            [Reply::Deleted, Reply::NotFound, Reply::Touched]
        );
    });
    drop(server);
}

#[test]
fn dropping_the_client_closes_its_connections_on_every_worker() {
    let workers = workers();
    let (server, client) = server_and_client(|c| c);
    let baseline = server.stat("curr_connections").unwrap();
    for n in 0..workers.num_workers() {
        let client = client.clone();
        on_worker(&workers, n, move || async move {
            client.version().await.unwrap()
        });
    }
    let open = server.stat("curr_connections").unwrap();
    assert_eq!(open, baseline + workers.num_workers() as u64);
    drop(client);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.stat("curr_connections").unwrap() > baseline {
        assert!(
            std::time::Instant::now() < deadline,
            "the connections stayed open"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
