//! The peer's handlers: the same answers as the corelane service's routes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State as Shared};
use axum::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use axum::http::{Response, StatusCode};
use futures_util::future::try_join_all;

use super::state::{Db, State};
use crate::redis_rs;
use crate::rules::{self, World, HTML, JSON, TEXT};

pub(crate) type Reply = Response<Body>;
type AppState = Shared<Arc<State>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Reply {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static(rules::SERVER));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

pub(crate) fn ok(content_type: &'static str, body: impl Into<Body>) -> Reply {
    reply(StatusCode::OK, content_type, body)
}

pub(crate) fn error(e: &dyn std::fmt::Display) -> Reply {
    reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, e.to_string())
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => ok(JSON, body),
        Err(e) => error(&e),
    }
}

pub(crate) fn json_or_500<T: serde::Serialize, E: std::fmt::Display>(
    result: Result<T, E>,
) -> Reply {
    match result {
        Ok(value) => to_json(&value),
        Err(e) => error(&e),
    }
}

#[derive(Debug, thiserror::Error)]
enum PeerDataError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no connection")]
    NoConnection,
}

fn connection(state: &State) -> Result<&Db, PeerDataError> {
    state.db().ok_or(PeerDataError::NoConnection)
}

fn from_row(row: &tokio_postgres::Row) -> Result<World, tokio_postgres::Error> {
    Ok(World {
        id: row.try_get(0)?,
        random_number: row.try_get(1)?,
    })
}

/// Rows `ids`, one query each, issued together (tokio-postgres pipelines them).
async fn select_each(db: &Db, ids: &[i32]) -> Result<Vec<World>, tokio_postgres::Error> {
    let rows = try_join_all(
        ids.iter()
            .map(|id| async move { db.client.query_one(&db.world, &[id]).await }),
    )
    .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn plaintext() -> Reply {
    ok(TEXT, rules::HELLO)
}

pub(crate) async fn json() -> Reply {
    to_json(&rules::HELLO_MESSAGE)
}

pub(super) async fn db(Shared(state): AppState) -> Reply {
    json_or_500(
        async {
            let db = connection(&state)?;
            let row = db
                .client
                .query_one(&db.world, &[&rules::random_id()])
                .await?;
            Ok::<_, PeerDataError>(from_row(&row)?)
        }
        .await,
    )
}

pub(super) async fn queries(Shared(state): AppState, RawQuery(query): RawQuery) -> Reply {
    let ids = rules::random_ids(rules::queries(query.as_deref()));
    json_or_500(
        async { Ok::<_, PeerDataError>(select_each(connection(&state)?, &ids).await?) }.await,
    )
}

pub(super) async fn updates(Shared(state): AppState, RawQuery(query): RawQuery) -> Reply {
    let ids = rules::distinct_ids(rules::queries(query.as_deref()));
    json_or_500(
        async {
            let db = connection(&state)?;
            let mut rows = select_each(db, &ids).await?;
            let (ids, numbers) = rules::renumber(&mut rows);
            db.client.execute(&db.update, &[&ids, &numbers]).await?;
            redis_rs::forget(&state.redis, &ids).await?;
            Ok::<_, PeerDataError>(rows)
        }
        .await,
    )
}

pub(super) async fn cached_queries(Shared(state): AppState, RawQuery(query): RawQuery) -> Reply {
    let ids = rules::random_ids(rules::queries(query.as_deref()));
    json_or_500(
        redis_rs::cached_worlds(&state.redis, &ids, |id| {
            let state = &state;
            async move {
                let db = connection(state)?;
                Ok::<_, PeerDataError>(from_row(&db.client.query_one(&db.world, &[&id]).await?)?)
            }
        })
        .await,
    )
}

pub(super) async fn fortunes(Shared(state): AppState) -> Reply {
    let page = async {
        let db = connection(&state)?;
        let rows = db.client.query(&db.fortunes, &[]).await?;
        let mut fortunes = Vec::with_capacity(rows.len() + 1);
        for row in &rows {
            fortunes.push((row.try_get::<_, i32>(0)?, row.try_get::<_, String>(1)?));
        }
        Ok::<_, PeerDataError>(rules::fortunes_page(fortunes))
    }
    .await;
    match page {
        Ok(html) => ok(HTML, html),
        Err(e) => error(&e),
    }
}

pub(crate) async fn not_found() -> Reply {
    reply(StatusCode::NOT_FOUND, TEXT, "not found")
}
