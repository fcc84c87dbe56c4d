//! LISTEN/NOTIFY against a real throwaway PostgreSQL server: delivery, several channels,
//! UNLISTEN, odd names and payloads, reconnection after `pg_terminate_backend`, consumers on
//! a plain thread, a tokio task and a loop worker, and drop closing the connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Listener, ListenerOptions, Notification};
use futures_lite::StreamExt;

fn client() -> (Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    (server, client)
}

async fn notify(client: &Client, channel: &str, payload: &str) {
    client
        .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
        .await
        .unwrap();
}

async fn next(listener: &mut Listener) -> Notification {
    listener.next().await.expect("the stream ended")
}

/// Publishes `channel`/`prefix-{i}` every 50 ms from its own thread until dropped.
struct Publisher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Publisher {
    fn start(client: Client, channel: &'static str, prefix: &'static str) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                block_on(notify(&client, channel, &format!("{prefix}-{i}")));
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Publisher {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn listen_notify_several_channels_and_unlisten() {
    let (_server, client) = client();
    guard("listen basics", move || {
        block_on(async {
            let mut listener = client.listener().unwrap();
            listener.listen("alpha").await.unwrap();
            listener.listen("beta").await.unwrap();
            assert!(listener.is_connected());
            assert_eq!(listener.connects(), 1);
            assert_eq!(listener.channels(), vec!["alpha", "beta"]);

            client.batch_execute("NOTIFY alpha, 'one'").await.unwrap();
            let n = next(&mut listener).await;
            assert_eq!((n.channel.as_str(), n.payload.as_str()), ("alpha", "one"));
            assert!(n.process_id > 0);
            assert_ne!(Some(n.process_id), listener.backend_pid());

            notify(&client, "beta", "two").await;
            notify(&client, "alpha", "three").await;
            notify(&client, "gamma", "not listened").await;
            client.batch_execute("NOTIFY beta").await.unwrap();
            let mut got = Vec::new();
            for _ in 0..3 {
                let n = next(&mut listener).await;
                got.push((n.channel, n.payload));
            }
            assert_eq!(
                got,
                vec![
                    ("beta".to_owned(), "two".to_owned()),
                    ("alpha".to_owned(), "three".to_owned()),
                    ("beta".to_owned(), String::new()),
                ]
            );

            // After UNLISTEN alpha, a notification to alpha sent before one to beta (same
            // session, so delivered in that order) never shows up.
            listener.unlisten("alpha").await.unwrap();
            assert_eq!(listener.channels(), vec!["beta"]);
            notify(&client, "alpha", "dropped").await;
            notify(&client, "beta", "kept").await;
            let n = next(&mut listener).await;
            assert_eq!((n.channel.as_str(), n.payload.as_str()), ("beta", "kept"));

            // As a Stream, too.
            notify(&client, "beta", "streamed").await;
            let n = listener.next().await.unwrap();
            assert_eq!(n.payload, "streamed");
            notify(&client, "beta", "via StreamExt").await;
            let n = StreamExt::next(&mut listener).await.unwrap();
            assert_eq!(n.payload, "via StreamExt");

            listener.unlisten_all().await.unwrap();
            assert!(listener.channels().is_empty());
            listener.listen("delta").await.unwrap();
            notify(&client, "beta", "gone").await;
            notify(&client, "delta", "last").await;
            assert_eq!(next(&mut listener).await.payload, "last");
        })
    });
}

#[test]
fn odd_channel_names_and_payloads() {
    let (_server, client) = client();
    guard("odd names", move || {
        block_on(async {
            let mut listener = client.listener().unwrap();
            let channel = "Wé \"ird\" ch;an";
            listener.listen(channel).await.unwrap();
            // Unquoted NOTIFY folds to lower case: `Mixed` is not `mixed`.
            listener.listen("Mixed").await.unwrap();
            client
                .batch_execute("NOTIFY Mixed, 'folded'")
                .await
                .unwrap();
            client
                .batch_execute("NOTIFY \"Mixed\", 'exact'")
                .await
                .unwrap();
            let n = next(&mut listener).await;
            assert_eq!((n.channel.as_str(), n.payload.as_str()), ("Mixed", "exact"));

            let payload = "it's \"quoted\" — ünïcødé 🎉 \\ back\nslash; DROP TABLE x;";
            notify(&client, channel, payload).await;
            let n = next(&mut listener).await;
            assert_eq!(n.channel, channel);
            assert_eq!(n.payload, payload);

            // Names the server would truncate or cannot hold are refused here.
            assert!(listener.listen("").await.unwrap_err().is_config());
            assert!(listener.listen("a\0b").await.unwrap_err().is_config());
            assert!(listener
                .listen(&"x".repeat(64))
                .await
                .unwrap_err()
                .is_config());
            let longest = "y".repeat(63);
            listener.listen(&longest).await.unwrap();
            notify(&client, &longest, "fits").await;
            let n = next(&mut listener).await;
            assert_eq!(
                (n.channel.as_str(), n.payload.as_str()),
                (longest.as_str(), "fits")
            );
        })
    });
}

#[test]
fn relistens_after_pg_terminate_backend() {
    let (_server, client) = client();
    guard("reconnect", move || {
        let options = ListenerOptions::default()
            .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200));
        let mut listener = client.listener_with(options).unwrap();
        block_on(async {
            listener.listen("reborn").await.unwrap();
            listener.listen("other").await.unwrap();
            notify(&client, "reborn", "before").await;
            assert_eq!(next(&mut listener).await.payload, "before");
        });
        for round in 1..=2u64 {
            let pid = listener.backend_pid().expect("connected");
            let killed: bool =
                block_on(client.query_one("SELECT pg_terminate_backend($1)", &[&pid]))
                    .unwrap()
                    .get(0)
                    .unwrap();
            assert!(killed);
            // Publish until a notification sent after the kill arrives: it can only come
            // through a new connection that listened again.
            let publisher = Publisher::start(client.clone(), "reborn", "after");
            let n = block_on(async {
                loop {
                    let n = next(&mut listener).await;
                    if n.payload.starts_with("after") {
                        break n;
                    }
                }
            });
            drop(publisher);
            assert_eq!(n.channel, "reborn");
            assert!(
                listener.connects() > round,
                "connects {}",
                listener.connects()
            );
            assert_ne!(listener.backend_pid(), Some(pid));
            assert!(listener.last_error().is_some());
            // Every channel was listened to again, not just the first.
            block_on(notify(&client, "other", "also back"));
            let n = block_on(async {
                loop {
                    let n = next(&mut listener).await;
                    if n.channel == "other" {
                        break n;
                    }
                }
            });
            assert_eq!(n.payload, "also back");
        }
    });
}

#[test]
fn consumed_from_a_plain_thread_while_published_elsewhere() {
    let (_server, client) = client();
    guard("plain thread", move || {
        let mut listener = client.listener().unwrap();
        block_on(listener.listen("threads")).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut payloads = Vec::new();
            while payloads.len() < 200 {
                payloads.push(block_on(next(&mut listener)).payload);
            }
            payloads
        });
        block_on(async {
            for i in 0..200 {
                notify(&client, "threads", &i.to_string()).await;
            }
        });
        let payloads = consumer.join().unwrap();
        let expected: Vec<String> = (0..200).map(|i: i32| i.to_string()).collect();
        assert_eq!(payloads, expected);
    });
}

#[test]
fn consumed_from_tokio() {
    let (_server, client) = client();
    guard("tokio", move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut listener = client.listener().unwrap();
            listener.listen("tokio").await.unwrap();
            let consumer = tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(n) = listener.next().await {
                    got.push(n.payload);
                    if got.len() == 50 {
                        break;
                    }
                }
                got
            });
            for i in 0..50 {
                notify(&client, "tokio", &format!("t{i}")).await;
            }
            let got = consumer.await.unwrap();
            assert_eq!(got.len(), 50);
            assert_eq!(got.first().map(String::as_str), Some("t0"));
            assert_eq!(got.last().map(String::as_str), Some("t49"));
        });
    });
}

#[test]
fn consumed_on_a_loop_worker() {
    let (_server, client) = client();
    guard("worker", move || {
        on_worker(1, move || async move {
            let mut listener = client.listener().unwrap();
            listener.listen("on_worker").await.unwrap();
            notify(&client, "on_worker", "local").await;
            assert_eq!(next(&mut listener).await.payload, "local");
        })
    });
}

#[test]
fn a_slow_consumer_pauses_reading_and_loses_nothing() {
    let (_server, client) = client();
    guard("backpressure", move || {
        block_on(async {
            let mut listener = client
                .listener_with(ListenerOptions::default().capacity(4))
                .unwrap();
            listener.listen("slow").await.unwrap();
            // One statement sends 500 notifications; the inbox holds 4 at a time.
            client
                .batch_execute("SELECT pg_notify('slow', g::text) FROM generate_series(1, 500) g")
                .await
                .unwrap();
            for i in 1..=500 {
                assert_eq!(next(&mut listener).await.payload, i.to_string());
            }
            // Requests still work after the pauses.
            listener.unlisten("slow").await.unwrap();
        })
    });
}

#[test]
fn dropping_the_listener_closes_its_connection() {
    let (_server, client) = client();
    guard("drop", move || {
        block_on(async {
            let listener = client.listener().unwrap();
            listener.listen("bye").await.unwrap();
            let pid = listener.backend_pid().unwrap();
            let alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1";
            let n: i64 = client
                .query_one(alive, &[&pid])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(n, 1);
            drop(listener);
            loop {
                let n: i64 = client
                    .query_one(alive, &[&pid])
                    .await
                    .unwrap()
                    .get(0)
                    .unwrap();
                if n == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    });
}

/// A listener's connection authenticates through the same startup machine as the pooled
/// ones: MD5, SCRAM-SHA-256 and a cleartext password work (and the backend key arrives: the
/// listener knows its pid), a wrong password fails its `listen` with an auth error.
#[test]
fn listens_after_password_authentication() {
    use corelane_testkit::{PgAuth, PgServer};
    two_workers();
    for auth in [PgAuth::Md5, PgAuth::ScramSha256, PgAuth::Password] {
        let server = PgServer::builder()
            .auth(auth)
            .user("app", "s3cret")
            .start()
            .unwrap();
        let client = Client::connect(&server.url_for("app", "s3cret")).unwrap();
        let wrong = Client::connect(&server.url_for("app", "wrong")).unwrap();
        guard(&format!("listen with {auth:?}"), move || {
            block_on(async {
                let mut listener = client.listener().unwrap();
                listener.listen("auth_chan").await.unwrap();
                let pid = listener.backend_pid().unwrap();
                assert!(pid > 0, "{auth:?}: pid {pid}");
                notify(&client, "auth_chan", "after auth").await;
                let n = next(&mut listener).await;
                assert_eq!(
                    (n.channel.as_str(), n.payload.as_str()),
                    ("auth_chan", "after auth")
                );

                let refused = wrong.listener().unwrap();
                let e = refused.listen("auth_chan").await.unwrap_err();
                assert!(
                    e.is_auth() || e.code().is_some_and(|c| c.code() == "28P01"),
                    "{auth:?}: {e}"
                );
                assert!(!e.to_string().contains("wrong"), "{e}");
            })
        });
    }
}
