//! The xitca stack's handlers: the same answers as the corelane service's routes, written as
//! xitca-web function services over the request context.

use xitca_postgres::iter::AsyncLendingIterator;
use xitca_postgres::{Execute, RowStream};
use xitca_web::error::Error;
use xitca_web::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use xitca_web::http::{StatusCode, WebResponse};
use xitca_web::WebContext;

use super::state::State;
use crate::redis_rs;
use crate::rules::{self, World, HTML, JSON, TEXT};

type Ctx<'a> = WebContext<'a, State>;
type Reply = Result<WebResponse, Error>;

fn reply(
    ctx: Ctx<'_>,
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<xitca_web::body::ResponseBody>,
) -> Reply {
    let mut res = ctx.into_response(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static(rules::SERVER));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(res)
}

fn ok(
    ctx: Ctx<'_>,
    content_type: &'static str,
    body: impl Into<xitca_web::body::ResponseBody>,
) -> Reply {
    reply(ctx, StatusCode::OK, content_type, body)
}

fn to_json<T: serde::Serialize + ?Sized>(ctx: Ctx<'_>, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => ok(ctx, JSON, body),
        Err(e) => reply(ctx, StatusCode::INTERNAL_SERVER_ERROR, TEXT, e.to_string()),
    }
}

fn json_or_500<T: serde::Serialize, E: std::fmt::Display>(
    ctx: Ctx<'_>,
    result: Result<T, E>,
) -> Reply {
    match result {
        Ok(value) => to_json(ctx, &value),
        Err(e) => reply(ctx, StatusCode::INTERNAL_SERVER_ERROR, TEXT, e.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
enum DataError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] xitca_postgres::Error),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no World row for id {0}")]
    NoRow(i32),
}

/// The one row a `world` query returns.
async fn world_of(stream: &mut RowStream<'_>, id: i32) -> Result<World, DataError> {
    let row = stream.try_next().await?.ok_or(DataError::NoRow(id))?;
    Ok(World {
        id: row.try_get(0)?,
        random_number: row.try_get(1)?,
    })
}

/// Rows `ids`, one query each, all sent before the first reply is read (xitca-postgres
/// pipelines them on the worker's connection).
async fn select_each(state: &State, ids: &[i32]) -> Result<Vec<World>, DataError> {
    let mut streams = Vec::with_capacity(ids.len());
    for id in ids {
        streams.push(state.world.bind([*id]).query(&state.pg).into_inner()?);
    }
    let mut rows = Vec::with_capacity(ids.len());
    for (stream, id) in streams.iter_mut().zip(ids) {
        rows.push(world_of(stream, *id).await?);
    }
    Ok(rows)
}

pub(super) async fn plaintext(ctx: Ctx<'_>) -> Reply {
    ok(ctx, TEXT, rules::HELLO)
}

pub(super) async fn json(ctx: Ctx<'_>) -> Reply {
    to_json(ctx, &rules::HELLO_MESSAGE)
}

pub(super) async fn db(ctx: Ctx<'_>) -> Reply {
    let state = ctx.state();
    let id = rules::random_id();
    let row = async {
        let mut stream = state.world.bind([id]).query(&state.pg).await?;
        world_of(&mut stream, id).await
    }
    .await;
    json_or_500(ctx, row)
}

fn query_count(ctx: &Ctx<'_>) -> usize {
    rules::queries(ctx.req().uri().query())
}

pub(super) async fn queries(ctx: Ctx<'_>) -> Reply {
    let ids = rules::random_ids(query_count(&ctx));
    let rows = select_each(ctx.state(), &ids).await;
    json_or_500(ctx, rows)
}

pub(super) async fn updates(ctx: Ctx<'_>) -> Reply {
    let ids = rules::distinct_ids(query_count(&ctx));
    let state = ctx.state();
    let rows = async {
        let mut rows = select_each(state, &ids).await?;
        let (ids, numbers) = rules::renumber(&mut rows);
        state
            .update
            .bind_dyn(&[&ids, &numbers])
            .execute(&state.pg)
            .await?;
        redis_rs::forget(&state.redis, &ids).await?;
        Ok::<_, DataError>(rows)
    }
    .await;
    json_or_500(ctx, rows)
}

pub(super) async fn cached_queries(ctx: Ctx<'_>) -> Reply {
    let ids = rules::random_ids(query_count(&ctx));
    let state = ctx.state();
    let rows = redis_rs::cached_worlds(&state.redis, &ids, |id| async move {
        let mut stream = state.world.bind([id]).query(&state.pg).await?;
        world_of(&mut stream, id).await
    })
    .await;
    json_or_500(ctx, rows)
}

pub(super) async fn fortunes(ctx: Ctx<'_>) -> Reply {
    let state = ctx.state();
    let page = async {
        let mut stream = state.fortunes.bind_none().query(&state.pg).await?;
        let mut fortunes = Vec::with_capacity(16);
        while let Some(row) = stream.try_next().await? {
            fortunes.push((row.try_get::<i32>(0)?, row.try_get::<String>(1)?));
        }
        Ok::<_, DataError>(rules::fortunes_page(fortunes))
    }
    .await;
    match page {
        Ok(html) => ok(ctx, HTML, html),
        Err(e) => reply(ctx, StatusCode::INTERNAL_SERVER_ERROR, TEXT, e.to_string()),
    }
}
