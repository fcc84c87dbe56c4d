//! Text-format parameters ([`Text`]) through a real server: types with no binary codec here
//! (`point`, `money`, `tsvector`), an enum label, a date and an `int4` sent as text and parsed
//! by the server, mixed with binary parameters in one statement, in a pipeline, in a
//! transaction, as NULL; a malformed text fails on the server (22P02) and the client goes on;
//! a `Text` inside an array is refused before sending.

use crate::support::types::{get, one, utc_client as client};
use crate::support::{block_on, guard};
use corelane_postgres::types::{Date, Text};
use corelane_postgres::{Client, ToSql, TransactionOptions};

/// Each (type, text sent, text the server gives back for it).
const CASES: [(&str, &str, &str); 5] = [
    ("point", "(1,2)", "(1,2)"),
    ("money", "1234.5", "1234.50"),
    ("tsvector", "a fat cat", "'a' 'cat' 'fat'"),
    ("date", "2024-02-29", "2024-02-29"),
    ("int4", " 41 ", "41"),
];

/// The server's text of `$1::<ty>` (`money` through `numeric`, which is not locale-dependent).
fn back_sql(ty: &str) -> String {
    match ty {
        "money" => "SELECT $1::money::numeric::text".to_owned(),
        _ => format!("SELECT $1::{ty}::text"),
    }
}

async fn text_of(client: &Client, ty: &str, text: &str) -> String {
    let sql = back_sql(ty);
    get(&one(client, &sql, &[&Text(text)]).await, 0, &sql)
}

#[test]
fn types_without_a_binary_codec() {
    let (_server, client) = client();
    guard("types_without_a_binary_codec", move || {
        block_on(async {
            for (ty, sent, back) in CASES {
                assert_eq!(text_of(&client, ty, sent).await, back, "{ty}");
            }
            // A plain &str is still refused for a non-text type (binary, checked here).
            let e = client
                .query_one("SELECT $1::point::text", &[&"(1,2)"])
                .await
                .unwrap_err();
            assert!(e.is_type(), "{e}");
            // Read back in binary where there is a codec: the server parsed the text.
            let row = one(&client, "SELECT $1::date", &[&Text("2024-02-29")]).await;
            let date: Date = get(&row, 0, "date");
            assert_eq!(date, Date::from_ymd(2024, 2, 29).unwrap());
            let owned = Text(String::from("(3,4)"));
            assert_eq!(
                get::<String>(
                    &one(&client, "SELECT $1::point::text", &[&owned]).await,
                    0,
                    "owned"
                ),
                "(3,4)"
            );
        })
    });
}

#[test]
fn enum_label() {
    let (_server, client) = client();
    guard("enum_label", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TYPE IF EXISTS textparams_mood; \
                     CREATE TYPE textparams_mood AS ENUM ('sad', 'ok', 'happy')",
                )
                .await
                .unwrap();
            let sql = "SELECT $1::textparams_mood::text, $1::textparams_mood > 'sad'";
            let row = one(&client, sql, &[&Text("happy")]).await;
            assert_eq!(get::<String>(&row, 0, sql), "happy");
            assert!(get::<bool>(&row, 1, sql));
            let e = client.query_one(sql, &[&Text("angry")]).await.unwrap_err();
            assert_eq!(e.code().unwrap().code(), "22P02", "{e}");
        })
    });
}

const MIXED: &str = "SELECT $1::point::text, $2::int4 + 1, $3::money::numeric::text, \
                     $4::text || '!', $5::tsvector::text";

fn check_mixed(row: &corelane_postgres::Row) {
    assert_eq!(get::<String>(row, 0, MIXED), "(1,2)");
    assert_eq!(get::<i32>(row, 1, MIXED), 42);
    assert_eq!(get::<String>(row, 2, MIXED), "9.99");
    assert_eq!(get::<String>(row, 3, MIXED), "hi!");
    assert_eq!(get::<String>(row, 4, MIXED), "'cat'");
}

#[test]
fn mixed_with_binary_in_one_statement_and_prepared() {
    let (_server, client) = client();
    guard("mixed_with_binary", move || {
        block_on(async {
            let params: [&(dyn ToSql + Sync); 5] =
                [&Text("(1,2)"), &41i32, &Text("9.99"), &"hi", &Text("cat")];
            check_mixed(&one(&client, MIXED, &params).await);
            // The same statement, prepared, twice (the cached statement binds again).
            let stmt = client.prepare(MIXED).await.unwrap();
            for _ in 0..2 {
                check_mixed(&client.query_one(&stmt, &params).await.unwrap());
            }
            // Then all binary again on the same statement text: the text codes do not stick.
            let row = one(&client, "SELECT $1::int4 + 1", &[&1i32]).await;
            assert_eq!(get::<i32>(&row, 0, "binary"), 2);
        })
    });
}

#[test]
fn in_a_pipeline() {
    let (_server, client) = client();
    guard("in_a_pipeline", move || {
        block_on(async {
            let mixed: [&(dyn ToSql + Sync); 5] =
                [&Text("(1,2)"), &41i32, &Text("9.99"), &"hi", &Text("cat")];
            let outcomes = client
                .pipeline(&[
                    ("SELECT $1::int4 * 2", &[&21i32]),
                    (MIXED, &mixed),
                    ("SELECT $1::point::text", &[&Text("(5,6)")]),
                ])
                .await
                .unwrap();
            let rows: Vec<_> = outcomes.into_iter().map(|o| o.unwrap().rows).collect();
            assert_eq!(get::<i32>(&rows[0][0], 0, "first"), 42);
            check_mixed(&rows[1][0]);
            assert_eq!(get::<String>(&rows[2][0], 0, "third"), "(5,6)");
        })
    });
}

#[test]
fn in_a_transaction() {
    let (_server, client) = client();
    guard("in_a_transaction", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS textparams_shapes; \
                     CREATE TABLE textparams_shapes (id int4, p point, price money)",
                )
                .await
                .unwrap();
            let n = client
                .transaction(TransactionOptions::new(), |tx| async move {
                    tx.execute(
                        "INSERT INTO textparams_shapes VALUES ($1, $2, $3)",
                        &[&1i32, &Text("(7,8)"), &Text("2.5")],
                    )
                    .await?;
                    tx.query_one(
                        "SELECT count(*)::int4 FROM textparams_shapes WHERE p ~= $1",
                        &[&Text("(7,8)")],
                    )
                    .await?
                    .get::<i32>(0)
                })
                .await
                .unwrap();
            assert_eq!(n, 1);
            let row = one(
                &client,
                "SELECT p::text, price::numeric::text FROM textparams_shapes WHERE id = $1",
                &[&1i32],
            )
            .await;
            assert_eq!(get::<String>(&row, 0, "p"), "(7,8)");
            assert_eq!(get::<String>(&row, 1, "price"), "2.50");
        })
    });
}

#[test]
fn null() {
    let (_server, client) = client();
    guard("null", move || {
        block_on(async {
            let none: Option<Text<&str>> = None;
            let some = Some(Text("(1,2)"));
            let sql = "SELECT $1::point IS NULL, $2::point::text, $3::int4";
            let row = one(&client, sql, &[&none, &some, &None::<i32>]).await;
            assert!(get::<bool>(&row, 0, sql));
            assert_eq!(get::<String>(&row, 1, sql), "(1,2)");
            assert_eq!(get::<Option<i32>>(&row, 2, sql), None);
        })
    });
}

#[test]
fn malformed_text_is_the_servers_error_and_the_client_goes_on() {
    let (_server, client) = client();
    guard("malformed_text", move || {
        block_on(async {
            for _ in 0..3 {
                let e = client
                    .query_one(
                        "SELECT $1::point::text, $2::int4",
                        &[&Text("not a point"), &1i32],
                    )
                    .await
                    .unwrap_err();
                assert_eq!(e.code().unwrap().code(), "22P02", "{e}");
                assert_eq!(text_of(&client, "point", "(1,2)").await, "(1,2)");
            }
            // In a pipeline: that slot fails, the ones before it are rolled back.
            let outcomes = client
                .pipeline(&[("SELECT 1", &[]), ("SELECT $1::point", &[&Text("(1")])])
                .await
                .unwrap();
            assert!(outcomes[0].as_ref().unwrap_err().is_rolled_back());
            let e = outcomes[1].as_ref().unwrap_err();
            assert_eq!(e.code().unwrap().code(), "22P02", "{e}");
            assert_eq!(text_of(&client, "point", "(9,9)").await, "(9,9)");
        })
    });
}

#[test]
fn text_inside_an_array_is_refused() {
    let (_server, client) = client();
    guard("text_inside_an_array", move || {
        block_on(async {
            let e = client
                .query_one("SELECT $1::point[]", &[&vec![Text("(1,2)")]])
                .await
                .unwrap_err();
            assert!(e.is_type(), "{e}");
            // The whole array as text is fine.
            let sql = "SELECT $1::point[]::text";
            let row = one(&client, sql, &[&Text("{\"(1,2)\",\"(3,4)\"}")]).await;
            assert_eq!(get::<String>(&row, 0, sql), "{\"(1,2)\",\"(3,4)\"}");
        })
    });
}
