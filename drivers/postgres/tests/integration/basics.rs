//! Queries, types, pipelines and auth against real throwaway PostgreSQL servers.

use corelane_postgres::{Client, Config};
use corelane_testkit::{PgAuth, PgServer};
use futures_lite::future::block_on;

fn trust_server() -> PgServer {
    PgServer::start().unwrap()
}

#[test]
fn queries_rows_and_types() {
    let server = trust_server();
    let client = Client::connect(&server.url()).unwrap();
    block_on(async {
        let row = client
            .query_one("SELECT $1::int4 + 1 AS n, $2::text AS t", &[&41i32, &"hé"])
            .await
            .unwrap();
        assert_eq!(row.get::<i32>("n").unwrap(), 42);
        assert_eq!(row.get::<String>(1).unwrap(), "hé");
        assert!(row.get::<i64>("n").unwrap_err().is_type());
        assert!(row.get::<i32>("nope").is_err());

        client
            .batch_execute("CREATE TABLE t (id int8 PRIMARY KEY, name text, score float8, flag bool, data bytea, note text)")
            .await
            .unwrap();
        for i in 0..20i64 {
            let n = client
                .execute(
                    "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &i,
                        &format!("name-{i}"),
                        &(i as f64 * 0.5),
                        &(i % 2 == 0),
                        &vec![i as u8; 3],
                        &None::<String>,
                    ],
                )
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        let rows = client
            .query(
                "SELECT id, name, score, flag, data, note FROM t ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 20);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.get::<i64>(0).unwrap(), i as i64);
            assert_eq!(row.get::<String>("name").unwrap(), format!("name-{i}"));
            assert_eq!(row.get::<f64>(2).unwrap(), i as f64 * 0.5);
            assert_eq!(row.get::<bool>(3).unwrap(), i % 2 == 0);
            assert_eq!(row.get::<Vec<u8>>(4).unwrap(), vec![i as u8; 3]);
            assert_eq!(row.get::<Option<String>>(5).unwrap(), None);
        }
        assert!(client
            .query_opt("SELECT 1 WHERE false", &[])
            .await
            .unwrap()
            .is_none());
        assert!(client
            .query_one("SELECT 1 UNION ALL SELECT 2", &[])
            .await
            .is_err());
        // Every column comes in binary: `String` does not take a non-text type such as
        // `inet` (read it as `IpAddr`), and a type without a bundled decoder (`money`) is read
        // through your own `FromSql`, or cast to text in SQL.
        let row = client
            .query_one(
                "SELECT '1.5'::money::text, inet '10.0.0.1' AS ip, host(inet '10.0.0.1') AS t",
                &[],
            )
            .await
            .unwrap();
        assert!(row.columns().iter().all(|c| c.is_binary()));
        assert_eq!(row.get::<String>("t").unwrap(), "10.0.0.1");
        let e = row.get::<String>("ip").unwrap_err();
        assert!(e.to_string().contains("PostgreSQL type inet"), "{e}");
        assert_eq!(
            row.get::<std::net::IpAddr>("ip").unwrap(),
            std::net::IpAddr::from([10, 0, 0, 1])
        );
        assert_eq!(
            row.get::<&[u8]>("ip").err().map(|e| e.is_type()),
            Some(true)
        );
        // Server errors carry the SQLSTATE and fields; the connection stays usable.
        let e = client
            .execute("INSERT INTO t (id) VALUES ($1)", &[&1i64])
            .await
            .unwrap_err();
        assert_eq!(e.code().unwrap().code(), "23505", "{e}");
        assert!(e.as_db_error().unwrap().message.contains("duplicate"));
        let e = client.query("SELEC 1", &[]).await.unwrap_err();
        assert_eq!(e.code().unwrap().code(), "42601");
        assert!(e.as_db_error().unwrap().position.is_some());
        assert_eq!(
            client
                .query_one("SELECT 7::int4", &[])
                .await
                .unwrap()
                .get::<i32>(0)
                .unwrap(),
            7
        );
        // Wrong parameter count/type: typed errors before anything is sent.
        assert!(client
            .query("SELECT $1::int4", &[])
            .await
            .unwrap_err()
            .is_type());
        assert!(client
            .query("SELECT $1::int4", &[&"x"])
            .await
            .unwrap_err()
            .is_type());
    });
}

#[test]
fn a_pipeline_of_1000_with_one_failure_in_the_middle() {
    let server = trust_server();
    let client = Client::connect(&server.url()).unwrap();
    block_on(async {
        let values: Vec<i32> = (0..1000).collect();
        let mut items: Vec<(&str, Vec<&(dyn corelane_postgres::ToSql + Sync)>)> = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if i == 500 {
                items.push(("SELECT 1 / $1::int4", vec![&0i32]));
            } else {
                items.push(("SELECT $1::int4", vec![v]));
            }
        }
        let refs: Vec<(&str, &[&(dyn corelane_postgres::ToSql + Sync)])> =
            items.iter().map(|(s, p)| (*s, p.as_slice())).collect();
        let outcomes = client.pipeline(&refs).await.unwrap();
        assert_eq!(outcomes.len(), 1000);
        for (i, outcome) in outcomes.iter().enumerate() {
            match i {
                // They ran, in the batch's transaction, which the failure rolled back.
                0..=499 => {
                    let e = outcome.as_ref().unwrap_err();
                    assert!(e.is_rolled_back(), "{i}: {e}");
                    let cause = e.rolled_back_by().unwrap().code().unwrap().code();
                    assert_eq!(cause, "22012");
                }
                500 => assert_eq!(
                    outcome.as_ref().unwrap_err().code().unwrap().code(),
                    "22012"
                ),
                _ => assert!(outcome.as_ref().unwrap_err().is_skipped(), "{i}"),
            }
        }
        // Usable after.
        let row = client.query_one("SELECT $1::int4", &[&5i32]).await.unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), 5);
    });
}

#[test]
fn from_tokio_and_on_the_loop_workers() {
    let server = trust_server();
    let client = Client::connect(&server.url()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = client.clone();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..8i32)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move {
                    let row = c.query_one("SELECT $1::int4 * 2", &[&i]).await.unwrap();
                    assert_eq!(row.get::<i32>(0).unwrap(), i * 2);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let workers = corelane_runtime::resolve(None).unwrap();
    for n in 0..workers.num_workers() {
        let c = client.clone();
        let v = block_on(workers.worker(n).unwrap().spawn(move || async move {
            c.query_one("SELECT $1::int8", &[&(n as i64)])
                .await
                .unwrap()
                .get::<i64>(0)
                .unwrap()
        }))
        .unwrap();
        assert_eq!(v, n as i64);
    }
}

#[test]
fn md5_scram_and_wrong_passwords() {
    for auth in [PgAuth::Md5, PgAuth::ScramSha256, PgAuth::Password] {
        let server = PgServer::builder()
            .auth(auth)
            .user("app", "s3cret")
            .start()
            .unwrap();
        let ok = Client::connect(&server.url_for("app", "s3cret")).unwrap();
        let row = block_on(ok.query_one("SELECT current_user::text", &[])).unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), "app");
        let bad = Client::new(Config::parse(&server.url_for("app", "wrong")).unwrap()).unwrap();
        let e = block_on(bad.query("SELECT 1", &[])).unwrap_err();
        assert!(
            e.is_auth() || e.code().is_some_and(|c| c.code() == "28P01"),
            "{auth:?}: {e}"
        );
        assert!(!e.to_string().contains("wrong"), "{e}");
        let none = Client::new(
            Config::default()
                .host("127.0.0.1", server.port())
                .user("app")
                .dbname("test"),
        )
        .unwrap();
        let e = block_on(none.query("SELECT 1", &[])).unwrap_err();
        assert!(e.is_auth(), "{auth:?}: {e}");
    }
}
