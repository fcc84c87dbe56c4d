//! The `tracing` feature (issue 15): one span per call with the OpenTelemetry database
//! attributes (and never a command's arguments), the error attributes on failures, and events
//! for connects, timeouts, cancellations and reconnects.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use corelane_redis::{Client, Config, Pipeline};
use corelane_testkit::{
    poll_once_then_drop, FaultProxy, Mode, RecordedSpan, RedisServer, TraceRecorder,
};
use support::{block_on, guard, on_worker};

fn field<'a>(span: &'a RecordedSpan, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

#[test]
fn every_call_has_a_span_with_the_database_attributes_and_failures_are_marked() {
    let recorder = TraceRecorder::install_global().expect("the only subscriber here");
    guard("tracing", move || {
        let server = RedisServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let port = proxy.addr().port();
        let config = Config::from_url(&format!("redis://{}/3", proxy.addr()))
            .unwrap()
            .command_timeout(Some(Duration::from_millis(200)));
        let client = Client::new(config).unwrap();

        let c = client.clone();
        on_worker(0, move || async move {
            c.set::<()>("secret-key", "secret-value").await.unwrap();
            c.set::<()>("text", "x").await.unwrap();
            assert!(c.incr::<i64>("text").await.is_err());
            let mut pipe = Pipeline::new();
            pipe.get("text").get("secret-key");
            let _: (String, String) = c.pipeline(&pipe).await.unwrap();
            poll_once_then_drop(Box::pin(c.get::<Option<String>>("text")));
        });
        // Off the loop too: the span is the caller's.
        let v: Option<String> = block_on(client.get("text")).unwrap();
        assert_eq!(v.as_deref(), Some("x"));
        proxy.set_mode(Mode::Stall);
        let c = client.clone();
        let e = on_worker(
            0,
            move || async move { c.ping::<String>().await.unwrap_err() },
        );
        assert!(e.is_timeout());
        proxy.set_mode(Mode::PassThrough);
        // The timeout closed the connection: the next call reconnects.
        let c = client.clone();
        on_worker(0, move || async move { c.ping::<String>().await.unwrap() });

        let spans: Vec<RecordedSpan> = recorder
            .spans()
            .into_iter()
            .filter(|s| s.name == "redis")
            .collect();
        let ops: Vec<&str> = spans
            .iter()
            .map(|s| field(s, "db.operation.name").unwrap())
            .collect();
        assert_eq!(
            ops,
            ["SET", "SET", "INCR", "PIPELINE", "GET", "GET", "PING", "PING"],
            "{spans:#?}"
        );
        for s in &spans {
            assert_eq!(field(s, "db.system.name"), Some("redis"));
            assert_eq!(field(s, "db.namespace"), Some("3"));
            assert_eq!(field(s, "server.address"), Some("127.0.0.1"));
            assert_eq!(field(s, "server.port"), Some(port.to_string().as_str()));
            assert!(s.closed, "{s:?}");
            let text = format!("{s:?}");
            assert!(!text.contains("secret"), "arguments reached a span: {s:?}");
        }
        let incr = &spans[2];
        assert_eq!(field(incr, "error.type"), Some("server_error"));
        assert_eq!(field(incr, "db.response.status_code"), Some("ERR"));
        assert_eq!(field(incr, "otel.status_code"), Some("ERROR"));
        assert_eq!(field(&spans[3], "db.operation.batch.size"), Some("2"));
        assert_eq!(field(&spans[0], "error.type"), None);
        let timed_out = &spans[6];
        assert_eq!(
            field(timed_out, "error.type"),
            Some("timeout"),
            "{timed_out:?}"
        );

        let events = recorder.events();
        let said = |needle: &str| {
            events
                .iter()
                .filter(|e| e.target == "corelane::client")
                .filter(|e| e.fields.get("message").is_some_and(|m| m.contains(needle)))
                .count()
        };
        assert!(said("connection opened") >= 1, "{events:#?}");
        assert_eq!(said("timed out"), 1, "{events:#?}");
        assert_eq!(said("dropped before its reply"), 1, "{events:#?}");
        assert!(said("reconnected") >= 1, "{events:#?}");
    });
}
