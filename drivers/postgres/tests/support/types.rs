//! Helpers of the type tests (types, ranges, network_types, type_features): one-row queries,
//! binary columns decoded with the statement in the failure message, and the round trip of a
//! value through `$1::<type>`.

use std::fmt::Debug;
use std::sync::Arc;

use corelane_postgres::{Client, FromSql, Row, ToSql, TypeError};
use corelane_testkit::PgServer;

use super::{client_for, shared_server};

/// A client of the binary's shared server whose sessions run in UTC (a startup parameter), so
/// `timestamptz::text` is stable.
pub fn utc_client() -> (Arc<PgServer>, Client) {
    let server = shared_server();
    let client = client_for(&server, |c| c.param("TimeZone", "UTC"));
    (server, client)
}

/// `query_one`, failing the test with the statement and the error.
pub async fn one(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Row {
    client
        .query_one(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Column `i` of `row`, which must have come in binary, decoded as `T`.
pub fn get<T: for<'a> FromSql<'a>>(row: &Row, i: usize, what: &str) -> T {
    assert!(
        row.columns()[i].is_binary(),
        "{what}: column {i} was not transferred in binary"
    );
    row.get::<T>(i)
        .unwrap_or_else(|e| panic!("{what}: decoding column {i}: {e}"))
}

/// Sends `value` as `ty`: asserts it comes back equal (and its NULL as `None`), returns the
/// server's text form of it (`$1::<ty>::text`).
pub async fn roundtrip<T>(client: &Client, ty: &str, value: T) -> String
where
    T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
{
    let sql = format!("SELECT $1::{ty}, $1::{ty}::text");
    let row = one(client, &sql, &[&value]).await;
    let back: T = get(&row, 0, &sql);
    assert_eq!(back, value, "{ty}: round trip");
    let text: String = get(&row, 1, &sql);
    let row = one(client, &format!("SELECT $1::{ty}"), &[&None::<T>]).await;
    assert_eq!(get::<Option<T>>(&row, 0, ty), None, "{ty}: NULL");
    text
}

/// `SELECT <expr>` decoded as `T`.
pub async fn select<T: for<'a> FromSql<'a>>(client: &Client, expr: &str) -> T {
    let sql = format!("SELECT {expr}");
    get(&one(client, &sql, &[]).await, 0, &sql)
}

/// `SELECT <expr>` read as `T`: the type error it must give.
pub async fn select_type_error<T: for<'a> FromSql<'a> + Debug>(
    client: &Client,
    expr: &str,
) -> TypeError {
    let sql = format!("SELECT {expr}");
    let row = one(client, &sql, &[]).await;
    let err = row.get::<T>(0).expect_err(&sql);
    assert!(err.is_type(), "{sql}: {err}");
    err.as_type_error().cloned().expect(&sql)
}
