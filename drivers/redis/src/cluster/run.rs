//! One command through the cluster: pick its node from the map, follow redirects, retry
//! what may be retried, within a bound.

use std::sync::Arc;

use corelane_redis_proto::{Cmd, Value};

use super::discover::NodeAddr;
use super::map::{Node, SlotMap};
use super::read_from::{is_read_only, ReadFrom};
use super::redirect::{backoff, next, Next};
use super::route::Target;
use super::state::Shared;
use crate::call::Reply;
use crate::{Client, Error, FromValue, Pipeline};

/// Runs `cmd` (routed to `target`) on a worker until it has a reply or a final error.
///
/// - `MOVED`: the map learns the slot's node (and a full refresh starts in the
///   background); the command is sent there.
/// - `ASK`: `ASKING` and the command go together, on one connection of the node named; the
///   map is not changed (the slot is only being migrated).
/// - `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, or a node that cannot be reached
///   (nothing was sent): wait (doubling, bounded), refresh, retry.
/// - A connection lost with the command on it is not retried (it may have run): the caller
///   gets [`Error::is_closed`], and a refresh starts.
///
/// With [`ReadFrom`] replicas, a read-only command to a slot goes to one of its replicas
/// (see [`replica`]); a redirect from a replica goes where it says (a master).
///
/// At most `max_attempts` sends; past that, the last error (or a cluster error for a
/// redirect loop). `first`: the first attempt was already sent (by a [`ClusterCall`] on a
/// worker, see call.rs) and failed so; the loop goes on from its error.
///
/// [`ClusterCall`]: super::ClusterCall
pub(crate) async fn run(
    shared: &Arc<Shared>,
    cmd: &Cmd,
    target: Target,
    first: Option<First>,
) -> Result<Value, Error> {
    if let Target::All(merge) = target {
        return super::fanout::fan_out(shared, cmd, merge).await;
    }
    let options = &shared.options;
    let from_replica = options.read_from != ReadFrom::Master && is_read_only(cmd);
    // Set once a replica could not be reached in `PreferReplica` mode: the master then.
    let mut to_master = false;
    let mut ask: Option<NodeAddr> = None;
    let mut direct: Option<Node> = None;
    let mut last: Option<Error> = None;
    let mut redirected = false;
    let mut first = first;
    for attempt in 0..options.max_attempts {
        let mut on_replica = false;
        let result = if let Some(sent) = first.take() {
            on_replica = sent.on_replica;
            Err(sent.error)
        } else {
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
            match (ask.take(), direct.take()) {
                (Some(addr), _) => match shared.client(&addr) {
                    Ok(client) => asking(&client, cmd).await,
                    Err(e) => Err(e),
                },
                (None, Some(node)) => node.client.typed::<Value>(cmd.clone(), Reply::Any).await,
                (None, None) => {
                    // After a first refresh the map above may be the empty one: read again.
                    let map = shared.map();
                    let node = match target {
                        Target::Slot(slot) if from_replica && !to_master => {
                            let chosen = replica(shared, &map, slot);
                            on_replica = chosen.is_some_and(|(_, r)| r);
                            chosen.map(|(node, _)| node)
                        }
                        _ => pick(shared, &map, target),
                    };
                    match node {
                        Some(node) => {
                            let call = node.client.typed::<Value>(cmd.clone(), Reply::Any);
                            call.await
                        }
                        None if from_replica && options.read_from == ReadFrom::Replica => {
                            last = Some(Error::cluster(format!(
                                "no replica is known for the shard of {target:?} (read_from=replica)"
                            )));
                            shared.refresh_later();
                            wait(shared, attempt).await;
                            continue;
                        }
                        None => {
                            last = Some(Error::cluster(format!("no node serves {target:?} yet")));
                            shared.refresh_later();
                            wait(shared, attempt).await;
                            continue;
                        }
                    }
                }
            }
        };
        let error = match result {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        match next(&error) {
            Next::Moved(slot, addr) => {
                redirected = true;
                let addr = known_host(shared, addr);
                direct = Some(shared.moved(slot, &addr)?);
                shared.refresh_later();
            }
            Next::Ask(addr) => {
                redirected = true;
                ask = Some(known_host(shared, addr));
            }
            // A replica that cannot be reached (nothing was sent) or is busy (`LOADING`, …):
            // in `PreferReplica` mode the master answers, at once.
            Next::Unreachable | Next::Wait
                if on_replica && options.read_from == ReadFrom::PreferReplica =>
            {
                redirected = false;
                to_master = true;
                shared.refresh_later();
            }
            Next::Wait | Next::Unreachable => {
                redirected = false;
                shared.refresh_later();
                wait(shared, attempt).await;
            }
            // A read-only command whose replica connection broke: safe to send again (it
            // changed nothing), to the master in `PreferReplica` mode.
            Next::Fail if on_replica && error.is_closed() => {
                redirected = false;
                shared.refresh_later();
                if options.read_from == ReadFrom::PreferReplica {
                    to_master = true;
                } else {
                    wait(shared, attempt).await;
                }
            }
            Next::Fail => {
                if error.is_closed() {
                    shared.refresh_later();
                }
                return Err(error);
            }
        }
        last = Some(error);
    }
    Err(match last {
        Some(e) if !redirected => e,
        Some(e) => Error::cluster(format!(
            "redirected {} times without an answer (last: {e})",
            options.max_attempts
        )),
        None => Error::cluster("no attempt was made (max_attempts is 0)"),
    })
}

/// The first attempt of a call, sent outside [`run`], and how it failed.
pub(crate) struct First {
    /// What the node answered (or why nothing was sent).
    pub(crate) error: Error,
    /// It went to a replica (a read with [`ReadFrom`] replicas).
    pub(crate) on_replica: bool,
}

/// Backs off before retry `attempt` (TRYAGAIN, CLUSTERDOWN, a node unreachable).
pub(super) async fn wait(shared: &Shared, attempt: usize) {
    let options = &shared.options;
    corelane_runtime::task::sleep(backoff(attempt, options.retry_base, options.retry_max)).await;
}

/// The node for `target` in `map`: its slot's master, or any master (round-robin).
/// Borrowed: a cloned `Node` would copy its address (an allocation per call).
pub(super) fn pick<'m>(shared: &Shared, map: &'m SlotMap, target: Target) -> Option<&'m Node> {
    match target {
        Target::Slot(slot) => map.node(slot),
        Target::Any => {
            let n = shared
                .next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            map.any(n)
        }
        Target::All(_) => None,
    }
}

/// The node for a read of `slot` from replicas: the next of the slot's replicas (round
/// robin), with `true`; with no replica known, the master (and `false`) in `PreferReplica`
/// mode, none in `Replica` mode.
pub(super) fn replica<'m>(
    shared: &Shared,
    map: &'m SlotMap,
    slot: u16,
) -> Option<(&'m Node, bool)> {
    let replicas = map.replicas(slot);
    if replicas.is_empty() {
        return match shared.options.read_from {
            ReadFrom::Replica => None,
            _ => map.node(slot).map(|n| (n, false)),
        };
    }
    let n = shared
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    replicas.get(n % replicas.len()).map(|n| (n, true))
}

/// A redirect with no host (a node that does not know its address) means the host we use
/// for the cluster.
pub(crate) fn known_host(shared: &Shared, (host, port): NodeAddr) -> NodeAddr {
    if host.is_empty() {
        let seed = shared
            .seeds
            .first()
            .map(|s| s.0.clone())
            .unwrap_or_default();
        (seed, port)
    } else {
        (host, port)
    }
}

/// `ASKING` then `cmd`, in one write on one connection of `client` (the server accepts the
/// command for an importing slot only right after `ASKING` on the same connection).
async fn asking(client: &Client, cmd: &Cmd) -> Result<Value, Error> {
    let mut pipe = Pipeline::new();
    pipe.add(Cmd::new("ASKING"));
    pipe.add(cmd.clone());
    let mut replies: Vec<Value> = client.pipeline(&pipe).await?;
    let reply = replies
        .pop()
        .ok_or_else(|| Error::runtime("ASKING pipeline lost its reply"))?;
    Value::from_value(reply)
}
