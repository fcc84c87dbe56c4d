//! Optimistic transactions on a cluster: `WATCH`, reads, `MULTI … EXEC` on an exclusive
//! connection to the master of the one slot all the keys share; a redirect starts the whole
//! transaction over on the right node.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::pool::Backoff;

use super::map::Node;
use super::pipeline::ClusterPipeline;
use super::redirect::{next, Next};
use super::route::Target;
use super::run::wait;
use super::slot::key_slot;
use super::state::Shared;
use crate::exclusive::{RETRY_PAUSE_MAX, RETRY_PAUSE_MIN};
use crate::{Error, Exclusive, FromValue, Pipeline, MAX_TRANSACTION_ATTEMPTS};

/// The slot every argument of `watch` (a `WATCH key …` command) hashes to: refused before
/// anything is sent when there is no key or the keys are in different slots.
pub(crate) fn watch_slot(watch: &Cmd) -> Result<u16, Error> {
    let mut slot = None;
    for key in watch.iter_args().skip(1) {
        let s = key_slot(key);
        match slot {
            None => slot = Some(s),
            Some(first) if first != s => return Err(Error::cross_slot(b"WATCH", first, s)),
            Some(_) => {}
        }
    }
    slot.ok_or_else(|| {
        Error::refused(
            b"a cluster transaction without keys",
            "a cluster transaction runs on the node of its keys' slot; name at least one key",
        )
    })
}

/// The user's builder, shared by every attempt (each attempt runs in its own checkout; the
/// lock is held only while `build` makes its future, never across an await).
type Build<F> = Arc<Mutex<F>>;

/// Runs the transaction until it commits, fails for good, or `max_attempts` redirects and
/// waits are used up. Runs on a worker of the cluster client.
pub(crate) async fn run_transaction<T, F, Fut>(
    shared: &Arc<Shared>,
    watch: Cmd,
    slot: u16,
    build: F,
) -> Result<T, Error>
where
    T: FromValue + Send + 'static,
    F: FnMut(Exclusive) -> Fut + Send + 'static,
    Fut: Future<Output = Result<ClusterPipeline, Error>> + 'static,
{
    let build: Build<F> = Arc::new(Mutex::new(build));
    let options = shared.options.clone();
    let mut direct: Option<Node> = None;
    let mut last: Option<Error> = None;
    for attempt in 0..options.max_attempts {
        let map = shared.map();
        if map.served() == 0 {
            if let Err(e) = shared.refresh().await {
                last = Some(e);
                wait(shared, attempt).await;
                continue;
            }
        } else if shared.stale(&map) {
            shared.refresh_later();
        }
        let node = match direct.take().or_else(|| shared.map().node(slot).cloned()) {
            Some(node) => node,
            None => {
                last = Some(Error::cluster(format!("no node serves slot {slot} yet")));
                shared.refresh_later();
                wait(shared, attempt).await;
                continue;
            }
        };
        let (watch, build) = (watch.clone(), build.clone());
        let result = node
            .client
            .with_connection(move |conn| on_connection::<T, F, Fut>(conn, watch, slot, build))
            .await;
        let error = match result {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        match next(&error) {
            // Only a redirect of the transaction's own slot moves it; a read of another
            // slot inside `build` is the caller's error.
            Next::Moved(moved, addr) if moved == slot => {
                let addr = super::run::known_host(shared, addr);
                direct = Some(shared.moved(slot, &addr)?);
                shared.refresh_later();
            }
            // The slot is being migrated: `ASKING` covers one command only, so a transaction
            // cannot follow it. Wait for the migration to end (the map then says MOVED).
            Next::Ask(_) | Next::Wait | Next::Unreachable => {
                shared.refresh_later();
                wait(shared, attempt).await;
            }
            Next::Moved(..) | Next::Fail => return Err(error),
        }
        last = Some(error);
    }
    Err(match last {
        Some(e) => Error::cluster(format!(
            "the transaction was redirected or retried {} times without committing (last: {e})",
            options.max_attempts
        )),
        None => Error::cluster("no attempt was made (max_attempts is 0)"),
    })
}

/// One checkout of the slot's master: `WATCH`, `build`, `MULTI … EXEC`, started over (after
/// a short random pause) while `EXEC` reports a changed watched key — as
/// [`Client::transaction`](crate::Client::transaction) does. A redirect (or a cluster error)
/// from any step is returned for the caller to act on.
async fn on_connection<T, F, Fut>(
    conn: Exclusive,
    watch: Cmd,
    slot: u16,
    build: Build<F>,
) -> Result<T, Error>
where
    T: FromValue,
    F: FnMut(Exclusive) -> Fut,
    Fut: Future<Output = Result<ClusterPipeline, Error>>,
{
    let mut last = Error::exec_aborted();
    let mut pause = Backoff::new(RETRY_PAUSE_MIN, RETRY_PAUSE_MAX);
    let mut rng = fastrand::Rng::new();
    for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
        if attempt > 0 {
            let now = Instant::now();
            let until = pause.on_failure(now, &mut rng);
            corelane_runtime::task::sleep(until.saturating_duration_since(now)).await;
        }
        conn.query::<()>(watch.clone()).await?;
        let made = {
            let mut build = build.lock().unwrap_or_else(PoisonError::into_inner);
            (*build)(conn.clone())
        };
        let pipeline = made.await?;
        let pipe = multi(&pipeline, slot)?;
        let mut replies: Vec<Value> = conn.pipeline(&pipe).await?;
        let exec = replies.pop().unwrap_or(Value::NULL);
        match exec {
            Value::Null(_) => last = Error::exec_aborted(),
            Value::Error(e) | Value::BlobError(e) => {
                // EXECABORT: a command was refused while queued. A redirect among those
                // refusals (the slot moved after WATCH) is what the caller must act on.
                let redirect = replies.into_iter().find_map(|r| match r {
                    Value::Error(q) | Value::BlobError(q)
                        if next(&Error::server(q.clone())) != Next::Fail =>
                    {
                        Some(q)
                    }
                    _ => None,
                });
                return Err(Error::server(redirect.unwrap_or(e)));
            }
            committed => return T::from_value(committed),
        }
    }
    Err(last)
}

/// `MULTI`, the pipeline's commands, `EXEC`, as one plain pipeline (so each `QUEUED` or
/// queuing error is seen). Refused before sending when a command is not for `slot`, or may
/// not run on a connection (see `ClusterPipeline::cmd`).
fn multi(pipeline: &ClusterPipeline, slot: u16) -> Result<Pipeline, Error> {
    let targets = pipeline.targets()?;
    for (cmd, t) in pipeline.commands.iter().zip(&targets) {
        if let Target::Slot(s) = t {
            if *s != slot {
                let name = cmd.iter_args().next().unwrap_or_default();
                return Err(Error::cross_slot(name, slot, *s));
            }
        }
    }
    let mut pipe = Pipeline::new();
    pipe.add(Cmd::new("MULTI"));
    for cmd in &pipeline.commands {
        pipe.add(cmd.clone());
    }
    pipe.add(Cmd::new("EXEC"));
    Ok(pipe)
}

#[cfg(test)]
mod tests {
    use super::{multi, watch_slot};
    use crate::cluster::{key_slot, ClusterPipeline};
    use corelane_redis_proto::Cmd;

    #[test]
    fn the_watched_keys_need_one_slot() {
        let slot = key_slot(b"u");
        let watch = Cmd::new("WATCH").arg("{u}a").arg("{u}b");
        assert_eq!(watch_slot(&watch).unwrap(), slot);
        let e = watch_slot(&Cmd::new("WATCH").arg("a").arg("b")).unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        assert!(watch_slot(&Cmd::new("WATCH")).unwrap_err().is_refused());
    }

    #[test]
    fn the_commands_are_wrapped_and_checked() {
        let slot = key_slot(b"u");
        let mut pipe = ClusterPipeline::new();
        pipe.incr("{u}a").get("{u}b").cmd(Cmd::new("PING"));
        assert_eq!(multi(&pipe, slot).unwrap().len(), 5, "MULTI + 3 + EXEC");
        pipe.get("other");
        assert!(multi(&pipe, slot).unwrap_err().is_cross_slot());
        let mut refused = ClusterPipeline::new();
        refused.cmd(Cmd::new("MULTI"));
        assert!(multi(&refused, slot).unwrap_err().is_refused());
    }
}
