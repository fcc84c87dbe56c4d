//! Cluster pipelines: the commands split by node, each node's share sent as one pipeline
//! (all nodes at once), the replies put back in the caller's order; a command redirected
//! inside a pipeline is retried alone.

use std::sync::Arc;

use corelane_redis_proto::{Cmd, Value};

use super::join::JoinAll;
use super::map::Node;
use super::redirect::{next, Next};
use super::route::{target, Target};
use super::run::run;
use super::state::Shared;
use crate::classify::{classify, refusal, Class};
use crate::{Call, Error, Pipeline};

/// Commands sent together to a cluster. Build it with the same command methods as
/// [`Pipeline`] (or [`ClusterPipeline::cmd`]), run it with
/// [`ClusterClient::pipeline`](super::ClusterClient::pipeline).
///
/// Each command goes to the node of its key; replies come back in the order the commands
/// were added. Not atomic: for `MULTI`/`EXEC` on one slot, return one from the builder of
/// [`ClusterClient::transaction`](super::ClusterClient::transaction).
#[derive(Debug, Clone, Default)]
pub struct ClusterPipeline {
    pub(crate) commands: Vec<Cmd>,
    /// The first command that may not run on a shared connection, with its error.
    refused: Option<Error>,
}

impl ClusterPipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds any command (one that would change a shared connection's state, or block it,
    /// makes the whole pipeline fail with [`Error::is_refused`] and nothing is sent).
    pub fn cmd(&mut self, cmd: Cmd) -> &mut Self {
        if self.refused.is_none() {
            let class = classify(&cmd);
            if class != Class::Shared {
                self.refused = Some(refusal(&cmd, class));
            }
        }
        self.add(cmd)
    }

    pub(crate) fn add(&mut self, cmd: Cmd) -> &mut Self {
        self.commands.push(cmd);
        self
    }

    /// How many commands it holds.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// True when it holds no command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Removes every command.
    pub fn clear(&mut self) {
        self.commands.clear();
        self.refused = None;
    }

    /// Where each command goes, or why the pipeline cannot be sent.
    pub(crate) fn targets(&self) -> Result<Vec<Target>, Error> {
        if let Some(e) = &self.refused {
            return Err(e.clone());
        }
        self.commands
            .iter()
            .map(|cmd| match target(cmd)? {
                Target::All(_) => Err(Error::unroutable(
                    cmd.iter_args().next().unwrap_or_default(),
                    "it goes to every master; send it alone, not in a pipeline",
                )),
                t => Ok(t),
            })
            .collect()
    }
}

/// Runs `commands` (routed to `targets`) and gives their replies in order, as an array.
pub(crate) async fn run_pipeline(
    shared: &Arc<Shared>,
    commands: &[Cmd],
    targets: &[Target],
) -> Result<Value, Error> {
    // An empty map (first use, another call's discovery still running) leaves every command
    // unrouted: each is then sent alone below, through the path that waits for the map.
    let mut map = shared.map();
    if map.served() == 0 {
        shared.refresh().await?;
        map = shared.map();
    }
    // Group the commands by node, keeping each command's position.
    let mut groups: Vec<(Node, Vec<usize>)> = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let node = match t {
            Target::Slot(slot) => map.node(*slot),
            Target::Any => map.any(i),
            // Refused by `targets`.
            Target::All(_) => None,
        };
        // A command with no node yet is retried alone below, once a refresh knows its node.
        if let Some(node) = node {
            match groups.iter_mut().find(|(n, _)| n.addr == node.addr) {
                Some((_, positions)) => positions.push(i),
                None => groups.push((node.clone(), vec![i])),
            }
        }
    }
    let calls: Vec<Call<Vec<Value>>> = groups
        .iter()
        .map(|(node, positions)| {
            let mut pipe = Pipeline::new();
            for &i in positions {
                if let Some(cmd) = commands.get(i) {
                    pipe.add(cmd.clone());
                }
            }
            node.client.pipeline(&pipe)
        })
        .collect();
    let mut replies: Vec<Option<Value>> = vec![None; commands.len()];
    for ((_, positions), result) in groups.iter().zip(JoinAll::new(calls).await) {
        // A lost connection fails the pipeline: its commands may or may not have run.
        let values = result?;
        for (&i, value) in positions.iter().zip(values) {
            if let Some(slot) = replies.get_mut(i) {
                *slot = Some(value);
            }
        }
    }
    // Redirected (or unrouted) commands again, one by one, through the single-command path.
    for (i, reply) in replies.iter_mut().enumerate() {
        let retry = match reply {
            None => true,
            Some(Value::Error(e) | Value::BlobError(e)) => {
                next(&Error::server(e.clone())) != Next::Fail
            }
            Some(_) => false,
        };
        if retry {
            let (Some(cmd), Some(t)) = (commands.get(i), targets.get(i)) else {
                continue;
            };
            *reply = Some(match run(shared, cmd, *t, None).await {
                Ok(value) => value,
                Err(e) => match e.server_error() {
                    Some(server) => Value::Error(server.clone()),
                    None => return Err(e),
                },
            });
        }
    }
    Ok(Value::Array(
        replies
            .into_iter()
            .map(|r| r.unwrap_or(Value::NULL))
            .collect(),
    ))
}
