//! The `tracing` feature (issue 15): one span per statement, pipeline and transaction with the
//! OpenTelemetry database attributes, the SQLSTATE on failures, the SQL text only when asked
//! for (parameters never), and events for connects and timeouts.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use corelane_postgres::{ToSql, TransactionOptions};
use corelane_testkit::{FaultProxy, Mode, PgServer, RecordedSpan, TraceRecorder};
use support::{client_at, guard, on_worker, two_workers};

fn field<'a>(span: &'a RecordedSpan, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

#[test]
fn statements_pipelines_and_transactions_have_spans_with_the_database_attributes() {
    two_workers();
    let recorder = TraceRecorder::install_global().expect("the only subscriber here");
    guard("tracing", move || {
        let server = PgServer::start().unwrap();
        let proxy = FaultProxy::start(server.addr()).unwrap();
        let port = proxy.addr().port().to_string();
        let quiet = client_at(proxy.addr(), |c| {
            c.query_timeout(Some(Duration::from_millis(300)))
        });
        let chatty = client_at(proxy.addr(), |c| c.trace_query_text(true));

        let (q, c) = (quiet.clone(), chatty.clone());
        on_worker(0, move || async move {
            let secret = "hunter2-parameter";
            let row = q.query_one("select $1::text", &[&secret]).await.unwrap();
            assert_eq!(row.get::<String>(0).unwrap(), secret);
            let e = q.execute("SELECT 1/0", &[]).await.unwrap_err();
            assert!(e.as_db_error().is_some());
            let items: [(&str, &[&(dyn ToSql + Sync)]); 2] = [("SELECT 1", &[]), ("SELECT 2", &[])];
            q.pipeline(&items).await.unwrap();
            q.transaction(TransactionOptions::default(), |tx| async move {
                tx.execute("SELECT 3", &[]).await?;
                Ok(())
            })
            .await
            .unwrap();
            c.query("  WITH x AS (SELECT 1) SELECT * FROM x", &[])
                .await
                .unwrap();
        });
        proxy.set_mode(Mode::Stall);
        let q = quiet.clone();
        let e = on_worker(0, move || async move {
            q.execute("UPDATE nothing SET x = 1", &[])
                .await
                .unwrap_err()
        });
        assert!(e.is_timeout(), "{e}");
        proxy.set_mode(Mode::PassThrough);

        let spans: Vec<RecordedSpan> = recorder
            .spans()
            .into_iter()
            .filter(|s| s.name == "postgresql")
            .collect();
        let ops: Vec<&str> = spans
            .iter()
            .map(|s| field(s, "db.operation.name").unwrap())
            .collect();
        assert_eq!(
            ops,
            [
                "SELECT",
                "SELECT",
                "PIPELINE",
                "TRANSACTION",
                "WITH",
                "UPDATE"
            ],
            "{spans:#?}"
        );
        for s in &spans {
            assert_eq!(field(s, "db.system.name"), Some("postgresql"));
            assert_eq!(field(s, "db.namespace"), Some("test"));
            assert_eq!(field(s, "server.address"), Some("127.0.0.1"));
            assert_eq!(field(s, "server.port"), Some(port.as_str()));
            assert!(s.closed, "{s:?}");
            assert!(
                !format!("{s:?}").contains("hunter2"),
                "a parameter reached a span: {s:?}"
            );
        }
        assert_eq!(
            field(&spans[0], "db.query.text"),
            None,
            "off unless asked for"
        );
        assert_eq!(field(&spans[1], "db.response.status_code"), Some("22012"));
        assert_eq!(field(&spans[1], "error.type"), Some("server_error"));
        assert_eq!(field(&spans[1], "otel.status_code"), Some("ERROR"));
        assert_eq!(field(&spans[2], "db.operation.batch.size"), Some("2"));
        assert_eq!(field(&spans[3], "error.type"), None);
        assert_eq!(
            field(&spans[4], "db.query.text"),
            Some("  WITH x AS (SELECT 1) SELECT * FROM x")
        );
        assert_eq!(field(&spans[5], "error.type"), Some("timeout"));

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
    });
}
