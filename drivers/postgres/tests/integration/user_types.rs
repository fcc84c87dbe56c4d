//! User-defined types through a real server: an enum, a composite (int, text, the enum), a
//! domain over int4 and an array of the enum, each as a parameter and as a result, through
//! `query`, `execute`, `pipeline` and a transaction; wrong Rust types name the PostgreSQL
//! type; a type dropped and created again between calls is never misread.

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{pg_composite, pg_enum, Client, Kind, Row, ToSql, Type, TypeError};

pg_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mood as "mood" {
        Sad => "sad",
        Ok => "ok",
        Happy => "happy",
    }
}

pg_composite! {
    #[derive(Debug, Clone, PartialEq)]
    struct Item as "item" {
        id: i32,
        name: Option<String>,
        mood: Mood,
    }
}

/// Each test gets its own schema (the tests of this binary share one server) on the
/// connection's search path, so type names stay short and tests do not see each other's.
fn client(schema: &str) -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    let server = shared_server();
    let setup = client_for(&server, |c| c);
    block_on(async {
        setup
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .unwrap();
    });
    let path = format!("{schema},public");
    let client = client_for(&server, |c| c.param("search_path", &path));
    (server, client)
}

async fn one(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Row {
    client
        .query_one(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

const CREATE: &str = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); \
    CREATE TYPE item AS (id int4, name text, mood mood); \
    CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);";

async fn round_trips(client: &Client) {
    // Enum: parameter and result, by label; its Type is looked up.
    let row = one(client, "SELECT $1::mood AS m", &[&Mood::Happy]).await;
    assert_eq!(row.get::<Mood>(0).unwrap(), Mood::Happy);
    let ty = row.columns()[0].type_();
    assert_eq!((ty.name(), ty.schema()), ("mood", "ut_basic"));
    assert_eq!(
        ty.kind(),
        &Kind::Enum(vec!["sad".into(), "ok".into(), "happy".into()])
    );
    // An enum's binary form is its label: it reads as text too.
    assert_eq!(row.get::<String>(0).unwrap(), "happy");
    assert_eq!(
        one(client, "SELECT 'sad'::mood", &[])
            .await
            .get::<Mood>(0)
            .unwrap(),
        Mood::Sad
    );

    // Domain over int4: the parameter is the domain, the column its base type.
    let stmt = client.prepare("SELECT $1::posint").await.unwrap();
    assert_eq!(stmt.params()[0].name(), "posint");
    assert_eq!(stmt.params()[0].kind(), &Kind::Domain(Type::INT4));
    let row = one(client, "SELECT $1::posint", &[&41i32]).await;
    assert_eq!(row.get::<i32>(0).unwrap(), 41);
    let e = client
        .query_one("SELECT $1::posint", &[&-1i32])
        .await
        .unwrap_err();
    assert_eq!(e.code().unwrap().code(), "23514", "{e}");

    // Composite: fields in order, a NULL field, the enum inside.
    let item = Item {
        id: 7,
        name: Some("seven".into()),
        mood: Mood::Ok,
    };
    let row = one(client, "SELECT $1::item", &[&item]).await;
    assert_eq!(row.get::<Item>(0).unwrap(), item);
    let nameless = Item {
        id: -1,
        name: None,
        mood: Mood::Sad,
    };
    assert_eq!(
        one(client, "SELECT $1::item", &[&nameless])
            .await
            .get::<Item>(0)
            .unwrap(),
        nameless
    );
    // The server reads what was sent, field by field.
    let row = one(
        client,
        "SELECT ($1::item).id, ($1::item).name, ($1::item).mood::text",
        &[&item],
    )
    .await;
    assert_eq!(row.get::<i32>(0).unwrap(), 7);
    assert_eq!(row.get::<String>(1).unwrap(), "seven");
    assert_eq!(row.get::<String>(2).unwrap(), "ok");
    // Built by the server.
    assert_eq!(
        one(client, "SELECT ROW(3, NULL, 'happy')::item", &[])
            .await
            .get::<Item>(0)
            .unwrap(),
        Item {
            id: 3,
            name: None,
            mood: Mood::Happy
        }
    );

    // Array of the enum, with a NULL.
    let moods = vec![Some(Mood::Sad), None, Some(Mood::Happy)];
    let row = one(client, "SELECT $1::mood[]", &[&moods]).await;
    assert_eq!(row.get::<Vec<Option<Mood>>>(0).unwrap(), moods);
    assert_eq!(row.columns()[0].type_().to_string(), "ut_basic.mood[]");
    assert_eq!(
        one(client, "SELECT ARRAY['ok', 'sad']::mood[]", &[])
            .await
            .get::<Vec<Mood>>(0)
            .unwrap(),
        vec![Mood::Ok, Mood::Sad]
    );

    // execute + query through a table holding all of them.
    client
        .execute(
            "INSERT INTO things (m, i, p, ms) VALUES ($1, $2, $3, $4)",
            &[&Mood::Ok, &item, &5i32, &vec![Mood::Happy, Mood::Happy]],
        )
        .await
        .unwrap();
    let rows = client
        .query("SELECT m, i, p, ms FROM things WHERE p = $1", &[&5i32])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<Mood>("m").unwrap(), Mood::Ok);
    assert_eq!(rows[0].get::<Item>("i").unwrap(), item);
    assert_eq!(rows[0].get::<i32>("p").unwrap(), 5);
    assert_eq!(
        rows[0].get::<Vec<Mood>>("ms").unwrap(),
        vec![Mood::Happy, Mood::Happy]
    );

    // A pipeline: each statement described (and its types resolved) before the batch goes.
    let outcomes = client
        .pipeline(&[
            ("SELECT $1::mood", &[&Mood::Sad]),
            ("SELECT $1::item", &[&nameless]),
            ("SELECT $1::mood[]", &[&vec![Mood::Ok]]),
            ("SELECT $1::posint", &[&9i32]),
        ])
        .await
        .unwrap();
    let rows: Vec<Row> = outcomes
        .into_iter()
        .map(|o| {
            let mut o = o.unwrap();
            o.rows.remove(0)
        })
        .collect();
    assert_eq!(rows[0].get::<Mood>(0).unwrap(), Mood::Sad);
    assert_eq!(rows[1].get::<Item>(0).unwrap(), nameless);
    assert_eq!(rows[2].get::<Vec<Mood>>(0).unwrap(), vec![Mood::Ok]);
    assert_eq!(rows[3].get::<i32>(0).unwrap(), 9);

    // A transaction's own connection looks the types up too.
    let tx = client.begin().await.unwrap();
    let row = tx
        .query_one("SELECT $1::item, $2::mood[]", &[&item, &vec![Mood::Sad]])
        .await
        .unwrap();
    assert_eq!(row.get::<Item>(0).unwrap(), item);
    assert_eq!(row.get::<Vec<Mood>>(1).unwrap(), vec![Mood::Sad]);
    tx.commit().await.unwrap();
}

#[test]
fn enum_composite_domain_and_array_round_trip() {
    two_workers();
    let (_server, client) = client("ut_basic");
    guard("enum_composite_domain_and_array_round_trip", move || {
        block_on(async {
            client.batch_execute(CREATE).await.unwrap();
            client
                .batch_execute("CREATE TABLE things (m mood, i item, p posint, ms mood[])")
                .await
                .unwrap();
        });
        // Off the loop (through a worker's mailbox), then on a worker (the fast path).
        block_on(round_trips(&client));
        block_on(client.execute("DELETE FROM things", &[])).unwrap();
        let c = client.clone();
        on_worker(1, move || async move { round_trips(&c).await });
    });
}

#[test]
fn a_wrong_rust_type_names_the_postgres_type() {
    two_workers();
    let (_server, client) = client("ut_wrong");
    guard("a_wrong_rust_type_names_the_postgres_type", move || {
        block_on(async {
            client.batch_execute(CREATE).await.unwrap();
            // Reading.
            let row = one(
                &client,
                "SELECT 'ok'::mood, now(), ROW(1, 'x', 'ok')::item",
                &[],
            )
            .await;
            let e = row.get::<i32>(0).unwrap_err();
            assert!(e.is_type(), "{e}");
            match e.as_type_error() {
                Some(TypeError::WrongType { ty, .. }) => assert_eq!(ty.name(), "mood"),
                other => panic!("{other:?}"),
            }
            assert!(
                e.to_string().contains("PostgreSQL type ut_wrong.mood"),
                "{e}"
            );
            let e = row.get::<i32>(1).unwrap_err();
            assert!(e.to_string().contains("PostgreSQL type timestamptz"), "{e}");
            assert!(!e.to_string().contains("1184"), "{e}");
            let e = row.get::<Mood>(2).unwrap_err();
            assert!(
                e.to_string().contains("PostgreSQL type ut_wrong.item"),
                "{e}"
            );
            // Writing: refused before anything is sent.
            let e = client
                .query_one("SELECT $1::mood", &[&5i32])
                .await
                .unwrap_err();
            assert!(e.is_type(), "{e}");
            assert!(
                e.to_string().contains("PostgreSQL type ut_wrong.mood"),
                "{e}"
            );
            let e = client
                .query_one("SELECT $1::item", &[&Mood::Ok])
                .await
                .unwrap_err();
            assert!(e.to_string().contains("ut_wrong.item"), "{e}");
            // A user codec's own error is carried with its source.
            let e = TypeError::other(std::io::Error::other("nope"));
            assert_eq!(e.to_string(), "nope");
        });
    });
}

pg_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Letter as "letter" {
        A => "a",
        B => "b",
        C => "c",
    }
}

pg_composite! {
    #[derive(Debug, Clone, PartialEq)]
    struct Pair as "pair" {
        a: i32,
        b: String,
    }
}

pg_composite! {
    #[derive(Debug, Clone, PartialEq)]
    struct Swapped as "pair" {
        a: String,
        b: i32,
    }
}

/// The same SQL before and after the types it uses are dropped and created again (new OIDs,
/// other labels and fields): the statements and the type cache notice; nothing is misread.
async fn ddl_between_calls(client: &Client, round: u32) {
    let ddl = |sql: String| async move { client.batch_execute(&sql).await.unwrap() };
    ddl("DROP TYPE IF EXISTS letter; DROP TYPE IF EXISTS pair; \
         CREATE TYPE letter AS ENUM ('a', 'b'); CREATE TYPE pair AS (a int4, b text)"
        .into())
    .await;
    let outcomes = client
        .pipeline(&[("SELECT $1::letter AS p", &[&"b"])])
        .await
        .unwrap();
    let row = &outcomes[0].as_ref().unwrap().rows[0];
    assert_eq!(row.get::<Letter>(0).unwrap(), Letter::B);
    for _ in 0..2 {
        let row = one(client, "SELECT $1::letter", &[&"b"]).await;
        assert_eq!(row.get::<Letter>(0).unwrap(), Letter::B);
        // The Rust enum has a variant the type lacks: not written.
        let e = client
            .query_one("SELECT $2::letter, $1::text", &[&"x", &Letter::A])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("letter"), "{e}");
        let row = one(
            client,
            "SELECT $1::pair",
            &[&Pair {
                a: 1,
                b: "x".into(),
            }],
        )
        .await;
        assert_eq!(
            row.get::<Pair>(0).unwrap(),
            Pair {
                a: 1,
                b: "x".into()
            }
        );
        assert!(row.get::<Swapped>(0).is_err());
    }
    ddl("DROP TYPE letter; DROP TYPE pair; \
         CREATE TYPE letter AS ENUM ('c', 'b', 'a'); CREATE TYPE pair AS (a text, b int4)"
        .into())
    .await;
    // The pipeline's statement was described with the old type, which lacks `c`.
    let outcomes = client
        .pipeline(&[("SELECT $1::letter AS p", &[&Letter::C])])
        .await
        .unwrap();
    let row = &outcomes[0].as_ref().unwrap().rows[0];
    assert_eq!(row.get::<Letter>(0).unwrap(), Letter::C);
    for _ in 0..2 {
        let row = one(client, "SELECT $1::letter", &[&"c"]).await;
        assert_eq!(row.get::<Letter>(0).unwrap(), Letter::C, "round {round}");
        let row = one(client, "SELECT $2::letter, $1::text", &[&"x", &Letter::A]).await;
        assert_eq!(row.get::<Letter>(0).unwrap(), Letter::A);
        let row = one(
            client,
            "SELECT $1::pair",
            &[&Swapped {
                a: "y".into(),
                b: 2,
            }],
        )
        .await;
        assert_eq!(
            row.get::<Swapped>(0).unwrap(),
            Swapped {
                a: "y".into(),
                b: 2
            }
        );
        // The old shape no longer maps: an error naming the type, never a misread.
        let e = row.get::<Pair>(0).unwrap_err();
        assert!(e.to_string().contains("pair"), "{e}");
    }
}

#[test]
fn a_type_dropped_and_created_again_is_not_misread() {
    two_workers();
    let (_server, client) = client("ut_ddl");
    guard(
        "a_type_dropped_and_created_again_is_not_misread",
        move || {
            block_on(ddl_between_calls(&client, 0));
            block_on(ddl_between_calls(&client, 1));
            let c = client.clone();
            on_worker(0, move || async move { ddl_between_calls(&c, 2).await });
        },
    );
}

/// A type altered in place keeps its OID. An enum that gained a label: a value the old
/// description refuses makes the statement be described again, with the type looked up
/// afresh. A composite that gained a field: the old description no longer fits the values,
/// which is an error, never a misread.
#[test]
fn a_type_altered_in_place() {
    two_workers();
    let (_server, client) = client("ut_alter");
    guard("a_type_altered_in_place", move || {
        block_on(async {
            client
                .batch_execute(
                    "CREATE TYPE letter AS ENUM ('a', 'b'); CREATE TYPE pair AS (a int4, b text)",
                )
                .await
                .unwrap();
            // Described (and the types looked up) before the ALTERs: by the client, and on a
            // transaction's connection.
            let row = one(&client, "SELECT $1::letter", &[&"a"]).await;
            assert_eq!(row.get::<Letter>(0).unwrap(), Letter::A);
            let row = one(&client, "SELECT $1::text::letter AS old", &[&"b"]).await;
            assert_eq!(row.get::<Letter>(0).unwrap(), Letter::B);
            let tx = client.begin().await.unwrap();
            let row = tx
                .query_one("SELECT $1::letter AS t", &[&"a"])
                .await
                .unwrap();
            assert_eq!(row.get::<Letter>(0).unwrap(), Letter::A);
            tx.commit().await.unwrap();
            let row = one(&client, "SELECT ROW(1, 'x')::pair", &[]).await;
            let pair = Pair {
                a: 1,
                b: "x".into(),
            };
            assert_eq!(row.get::<Pair>(0).unwrap(), pair);

            client
                .batch_execute(
                    "ALTER TYPE letter ADD VALUE 'c'; ALTER TYPE pair ADD ATTRIBUTE c int4",
                )
                .await
                .unwrap();
            // The old description (a, b) refuses `C`: described again, with the type looked
            // up afresh.
            let row = one(&client, "SELECT $1::letter", &[&Letter::C]).await;
            assert_eq!(row.get::<Letter>(0).unwrap(), Letter::C);
            assert_eq!(
                row.columns()[0].type_().kind(),
                &Kind::Enum(vec!["a".into(), "b".into(), "c".into()])
            );
            // The same in a transaction.
            let tx = client.begin().await.unwrap();
            let row = tx
                .query_one("SELECT $1::letter AS t", &[&Letter::C])
                .await
                .unwrap();
            assert_eq!(row.get::<Letter>(0).unwrap(), Letter::C);
            tx.commit().await.unwrap();
            // Read with a description from before the ALTER: by label, still right.
            let row = one(&client, "SELECT $1::text::letter AS old", &[&"c"]).await;
            assert_eq!(row.get::<Letter>(0).unwrap(), Letter::C);
            // A label the Rust enum lacks: an error of that value alone.
            client
                .batch_execute("ALTER TYPE letter ADD VALUE 'd'")
                .await
                .unwrap();
            let row = one(&client, "SELECT 'd'::letter, 'a'::letter", &[]).await;
            match row.get::<Letter>(0) {
                Err(e) => assert!(
                    matches!(e.as_type_error(), Some(TypeError::UnknownLabel { label, .. }) if label == "d"),
                    "{e}"
                ),
                Ok(l) => panic!("misread as {l:?}"),
            }
            assert_eq!(row.get::<Letter>(1).unwrap(), Letter::A);
            // A composite that gained a field, read with the description from before: an
            // error, never a misread.
            let row = one(&client, "SELECT ROW(1, 'x', 3)::pair", &[]).await;
            match row.get::<Pair>(0) {
                Ok(p) => panic!("misread as {p:?}"),
                Err(e) => assert!(e.is_type(), "{e}"),
            }
        });
    });
}

/// The same with no named statements (every request parses the unnamed one, declaring the
/// parameter types the statement was described with: the old OID is refused with 42704).
#[test]
fn a_type_dropped_and_created_again_without_a_statement_cache() {
    two_workers();
    let (server, _) = client("ut_ddl0");
    let client = client_for(&server, |c| {
        c.param("search_path", "ut_ddl0,public")
            .statement_cache_size(0)
    });
    guard(
        "a_type_dropped_and_created_again_without_a_statement_cache",
        move || {
            block_on(ddl_between_calls(&client, 0));
            block_on(ddl_between_calls(&client, 1));
        },
    );
}

/// Every built-in `Type` constant matches the server's catalog: name, kind, element or
/// subtype (the constants are what is never looked up).
#[test]
fn built_in_types_match_the_catalog() {
    two_workers();
    let (_server, client) = client("ut_builtin");
    guard("built_in_types_match_the_catalog", move || {
        block_on(async {
            let rows = client
                .query(
                    "SELECT t.oid, t.typname::text, t.typtype::text, t.typelem, \
                     COALESCE(r.rngsubtype, 0::oid) \
                     FROM pg_type t LEFT JOIN pg_range r ON r.rngtypid = t.oid \
                     WHERE t.oid < 10000",
                    &[],
                )
                .await
                .unwrap();
            let mut checked = 0;
            for row in &rows {
                let oid: u32 = row.get(0).unwrap();
                let Some(ty) = Type::from_oid(oid) else {
                    continue;
                };
                checked += 1;
                let name: String = row.get(1).unwrap();
                let typtype: String = row.get(2).unwrap();
                let elem: u32 = row.get(3).unwrap();
                let sub: u32 = row.get(4).unwrap();
                assert_eq!(ty.name(), name, "oid {oid}");
                match ty.kind() {
                    Kind::Array(e) => assert_eq!(e.oid(), elem, "{name}"),
                    Kind::Range(s) => {
                        assert_eq!((typtype.as_str(), s.oid()), ("r", sub), "{name}")
                    }
                    Kind::Pseudo => assert_eq!(typtype, "p", "{name}"),
                    Kind::Simple => assert_eq!(typtype, "b", "{name}"),
                    other => panic!("{name}: {other:?}"),
                }
            }
            for oid in 0..10_000u32 {
                if Type::from_oid(oid).is_some() {
                    assert!(
                        rows.iter().any(|r| r.get::<u32>(0).unwrap() == oid),
                        "oid {oid} is not in pg_type"
                    );
                }
            }
            assert!(checked > 100, "{checked}");
        });
    });
}
