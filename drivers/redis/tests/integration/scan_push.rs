//! SCAN-family streams and RESP3 push frames on command connections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corelane_redis::{Client, Cmd, Config, Value};
use corelane_testkit::RedisServer;
use futures_lite::future::block_on;
use futures_lite::StreamExt;

#[test]
fn scan_streams_visit_everything() {
    let server = RedisServer::start().unwrap();
    let client = Client::open(&server.url()).unwrap();
    block_on(async {
        let pairs: Vec<(String, String)> = (0..500)
            .map(|i| (format!("scan:{i}"), i.to_string()))
            .collect();
        client.mset::<()>(&pairs).await.unwrap();
        client.set::<()>("other", 1).await.unwrap();
        let keys: HashSet<String> = client
            .scan::<String>()
            .matching("scan:*")
            .count(50)
            .map(|k| k.unwrap())
            .collect()
            .await;
        assert_eq!(keys.len(), 500);
        assert!(!keys.contains("other"));

        let fields: Vec<(String, String)> = (0..300)
            .map(|i| (format!("f{i}"), format!("v{i}")))
            .collect();
        client.hset_multiple::<i64>("h", &fields).await.unwrap();
        let got: HashMap<String, String> = client
            .hscan::<(String, String)>("h")
            .count(20)
            .map(|kv| kv.unwrap())
            .collect()
            .await;
        assert_eq!(got.len(), 300);
        assert_eq!(got["f7"], "v7");

        let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        client.sadd::<i64>("s", &members).await.unwrap();
        let got: HashSet<String> = client
            .sscan::<String>("s")
            .map(|m| m.unwrap())
            .collect()
            .await;
        assert_eq!(got.len(), 200);

        let scored: Vec<(f64, String)> = (0..150).map(|i| (i as f64, format!("z{i}"))).collect();
        client.zadd_multiple::<i64>("z", &scored).await.unwrap();
        let got: Vec<(String, f64)> = client
            .zscan::<(String, f64)>("z")
            .map(|m| m.unwrap())
            .collect()
            .await;
        assert_eq!(got.len(), 150);
        assert!(got.contains(&("z9".to_owned(), 9.0)));

        // A wrong type ends the stream with the server's error.
        let mut wrong = client.hscan::<(String, String)>("s");
        let first = wrong.next().await.unwrap();
        assert_eq!(first.unwrap_err().code(), Some("WRONGTYPE"));
        assert!(wrong.next().await.is_none());

        // A collection as the key (several arguments) is refused before anything is sent,
        // not joined into one key.
        let mut joined = client.hscan::<(String, String)>(vec!["h", "s"]);
        let err = joined.next().await.unwrap().unwrap_err();
        assert!(err.is_type_mismatch(), "{err:?}");
        assert!(err.to_string().contains("2 arguments"), "{err}");
        assert!(joined.next().await.is_none());
    });
}

#[test]
fn push_frames_on_command_connections_reach_the_callback() {
    let server = RedisServer::start().unwrap();
    let seen: Arc<Mutex<Vec<Vec<Value>>>> = Arc::default();
    let sink = seen.clone();
    let tracked = Client::new(
        Config::from_url(&server.url())
            .unwrap()
            .on_push(move |frame| sink.lock().unwrap().push(frame)),
    )
    .unwrap();
    let writer = Client::open(&server.url()).unwrap();
    block_on(writer.set::<()>("cached", "v1")).unwrap();
    // Tracking is per connection: enable it and read the key on the same worker's connection.
    let workers = corelane_runtime::resolve(None).unwrap();
    let t = tracked.clone();
    block_on(workers.worker(0).unwrap().spawn(move || async move {
        t.query::<()>(Cmd::new("CLIENT").arg("TRACKING").arg("ON"))
            .await
            .unwrap();
        assert_eq!(t.get::<String>("cached").await.unwrap(), "v1");
    }))
    .unwrap();
    block_on(writer.set::<()>("cached", "v2")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Invalidations arrive asynchronously; a PING on the same worker drives the reader.
        let t = tracked.clone();
        block_on(
            workers
                .worker(0)
                .unwrap()
                .spawn(move || async move { t.ping::<String>().await.unwrap() }),
        )
        .unwrap();
        let frames = seen.lock().unwrap().clone();
        if let Some(frame) = frames
            .iter()
            .find(|f| f.first() == Some(&Value::BulkString("invalidate".into())))
        {
            assert!(format!("{frame:?}").contains("cached"), "{frame:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no invalidation arrived: {frames:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
