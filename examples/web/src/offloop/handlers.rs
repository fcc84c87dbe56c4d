//! The off-loop handlers: axum extractors around the corelane service's own data functions,
//! so the stacks differ only in where the work runs.

use std::sync::Arc;

use axum::extract::{RawQuery, State as Shared};

use super::State;
use crate::peer::handlers::{error, json_or_500, ok, Reply};
use crate::rules::{queries as count, HTML};
use crate::{fortunes as page, world};

type AppState = Shared<Arc<State>>;

pub(super) async fn db(Shared(state): AppState) -> Reply {
    json_or_500(world::random_one(&state.pg).await)
}

pub(super) async fn queries(Shared(state): AppState, RawQuery(query): RawQuery) -> Reply {
    json_or_500(world::random_many(&state.pg, count(query.as_deref())).await)
}

pub(super) async fn updates(Shared(state): AppState, RawQuery(query): RawQuery) -> Reply {
    json_or_500(world::update_many(&state.pg, &state.redis, count(query.as_deref())).await)
}

pub(super) async fn cached_queries(Shared(state): AppState, RawQuery(query): RawQuery) -> Reply {
    json_or_500(world::cached_many(&state.pg, &state.redis, count(query.as_deref())).await)
}

pub(super) async fn fortunes(Shared(state): AppState) -> Reply {
    match page::page(&state.pg).await {
        Ok(html) => ok(HTML, html),
        Err(e) => error(&e),
    }
}
