//! Commands every master answers for its own keys (`DBSIZE`, `KEYS`): sent to each master
//! at once, the replies merged.

use std::sync::Arc;

use corelane_redis_proto::{Cmd, Value};

use super::join::JoinAll;
use super::route::Merge;
use super::state::Shared;
use crate::call::Reply;
use crate::{Call, Error};

/// Sends `cmd` to every master of the map and merges the replies. The first error (a node
/// that cannot be reached, a server error) fails the call. During a resharding a key being
/// migrated may be counted twice or not at all, as `redis-cli --cluster` would count it.
pub(crate) async fn fan_out(shared: &Arc<Shared>, cmd: &Cmd, merge: Merge) -> Result<Value, Error> {
    // On first use the map may still be empty while another call's discovery runs.
    let mut map = shared.map();
    for attempt in 0..shared.options.max_attempts {
        if map.served() > 0 {
            break;
        }
        shared.refresh().await?;
        map = shared.map();
        if map.served() == 0 {
            let options = &shared.options;
            corelane_runtime::task::sleep(super::redirect::backoff(
                attempt,
                options.retry_base,
                options.retry_max,
            ))
            .await;
            map = shared.map();
        }
    }
    let calls: Vec<Call<Value>> = map
        .nodes()
        .iter()
        .map(|node| node.client.typed::<Value>(cmd.clone(), Reply::Any))
        .collect();
    if calls.is_empty() {
        return Err(Error::cluster("no master is known"));
    }
    let replies = JoinAll::new(calls).await;
    match merge {
        Merge::Sum => {
            let mut total: i64 = 0;
            for reply in replies {
                match reply? {
                    Value::Integer(n) => total = total.saturating_add(n),
                    other => {
                        return Err(Error::type_mismatch(format!(
                            "a master answered {} where an integer was expected",
                            other.type_name()
                        )))
                    }
                }
            }
            Ok(Value::Integer(total))
        }
        Merge::Concat => {
            let mut all = Vec::new();
            for reply in replies {
                match reply? {
                    Value::Array(items) | Value::Set(items) => all.extend(items),
                    other => {
                        return Err(Error::type_mismatch(format!(
                            "a master answered {} where an array was expected",
                            other.type_name()
                        )))
                    }
                }
            }
            Ok(Value::Array(all))
        }
    }
}
