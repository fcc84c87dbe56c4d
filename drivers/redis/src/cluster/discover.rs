//! Reading the cluster's layout: `CLUSTER SHARDS` (Redis 7+), else `CLUSTER SLOTS`.

use corelane_redis_proto::Value;

use crate::Error;

/// A master's address, as the cluster reports it.
pub(crate) type NodeAddr = (String, u16);

/// What discovery found: which master serves which slot range (inclusive), and the online
/// replicas of each master.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) ranges: Vec<(u16, u16, NodeAddr)>,
    /// Per master (in the order first seen), its replicas the cluster does not report failed.
    pub(crate) replicas: Vec<(NodeAddr, Vec<NodeAddr>)>,
}

impl Layout {
    fn add_replicas(&mut self, master: &NodeAddr, replicas: Vec<NodeAddr>) {
        match self.replicas.iter_mut().find(|(m, _)| m == master) {
            Some((_, known)) => {
                for r in replicas {
                    if !known.contains(&r) {
                        known.push(r);
                    }
                }
            }
            None => self.replicas.push((master.clone(), replicas)),
        }
    }
}

fn bad(what: &str) -> Error {
    Error::cluster(format!("unexpected cluster layout reply: {what}"))
}

/// The fields of a RESP3 map or a RESP2 flat `key, value, …` array.
fn fields(value: &Value) -> Option<Vec<(&[u8], &Value)>> {
    match value {
        Value::Map(pairs) => Some(
            pairs
                .iter()
                .filter_map(|(k, v)| text(k).map(|k| (k, v)))
                .collect(),
        ),
        Value::Array(items) => Some(
            items
                .chunks(2)
                .filter_map(|pair| match pair {
                    [k, v] => text(k).map(|k| (k, v)),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

fn text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) | Value::SimpleString(b) => Some(b),
        Value::Verbatim { text, .. } => Some(text),
        _ => None,
    }
}

fn field<'a>(fields: &[(&[u8], &'a Value)], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| *v)
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        other => std::str::from_utf8(text(other)?).ok()?.parse().ok(),
    }
}

fn slot(value: &Value) -> Option<u16> {
    u16::try_from(int(value)?)
        .ok()
        .filter(|s| *s < super::slot::SLOTS)
}

/// The host a node announces: its endpoint, or the host we asked when it announces none
/// (`?` or empty: a node that does not know its own address).
fn host_or(announced: Option<&[u8]>, asked: &str) -> String {
    match announced {
        Some(h) if !h.is_empty() && h != b"?" => String::from_utf8_lossy(h).into_owned(),
        _ => asked.to_owned(),
    }
}

/// Parses a `CLUSTER SHARDS` reply: per shard its slot ranges and its online master.
pub(crate) fn parse_shards(reply: &Value, asked: &str) -> Result<Layout, Error> {
    let Value::Array(shards) = reply else {
        return Err(bad("CLUSTER SHARDS is not an array"));
    };
    let mut layout = Layout::default();
    for shard in shards {
        let shard = fields(shard).ok_or_else(|| bad("a shard is not a map"))?;
        let Some(Value::Array(slots)) = field(&shard, "slots") else {
            return Err(bad("a shard without slots"));
        };
        let Some(Value::Array(nodes)) = field(&shard, "nodes") else {
            return Err(bad("a shard without nodes"));
        };
        let master = nodes.iter().filter_map(fields).find(|node| {
            let is = |name, want: &str| {
                field(node, name)
                    .and_then(text)
                    .is_some_and(|v| v.eq_ignore_ascii_case(want.as_bytes()))
            };
            is("role", "master") && is("health", "online")
        });
        let Some(master) = master else {
            continue; // a shard with no online master (failing over): its slots stay unserved
        };
        let port = field(&master, "port")
            .or_else(|| field(&master, "tls-port"))
            .and_then(int)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad("a node without a port"))?;
        let host = host_or(
            field(&master, "endpoint")
                .or_else(|| field(&master, "ip"))
                .and_then(text),
            asked,
        );
        let replicas = nodes
            .iter()
            .filter_map(fields)
            .filter(|node| {
                let is = |name, want: &str| {
                    field(node, name)
                        .and_then(text)
                        .is_some_and(|v| v.eq_ignore_ascii_case(want.as_bytes()))
                };
                // `loading` too: a node reports another's replica as loading until gossip
                // has brought its replication offset (seen for seconds after a start); a
                // replica really loading answers LOADING, and the read then goes elsewhere.
                is("role", "replica") && !is("health", "failed")
            })
            .filter_map(|node| {
                let port = field(&node, "port")
                    .or_else(|| field(&node, "tls-port"))
                    .and_then(int)
                    .and_then(|p| u16::try_from(p).ok())?;
                let host = host_or(
                    field(&node, "endpoint")
                        .or_else(|| field(&node, "ip"))
                        .and_then(text),
                    asked,
                );
                Some((host, port))
            })
            .collect();
        layout.add_replicas(&(host.clone(), port), replicas);
        for pair in slots.chunks(2) {
            let [start, end] = pair else {
                return Err(bad("an odd slot list"));
            };
            let (Some(start), Some(end)) = (slot(start), slot(end)) else {
                return Err(bad("a slot out of range"));
            };
            layout.ranges.push((start, end, (host.clone(), port)));
        }
    }
    Ok(layout)
}

/// Parses a `CLUSTER SLOTS` reply: `[start, end, [host, port, id, …], replicas…]` per range.
pub(crate) fn parse_slots(reply: &Value, asked: &str) -> Result<Layout, Error> {
    let Value::Array(ranges) = reply else {
        return Err(bad("CLUSTER SLOTS is not an array"));
    };
    let mut layout = Layout::default();
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(bad("a slot range is not an array"));
        };
        let [start, end, Value::Array(master), replicas @ ..] = parts.as_slice() else {
            return Err(bad("a slot range without a master"));
        };
        let (Some(start), Some(end)) = (slot(start), slot(end)) else {
            return Err(bad("a slot out of range"));
        };
        let host = host_or(master.first().and_then(text), asked);
        let port = master
            .get(1)
            .and_then(int)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad("a node without a port"))?;
        // Replicas as `[host, port, id, …]` after the master (the ones CLUSTER SLOTS lists
        // are not known to be failed).
        let replicas = replicas
            .iter()
            .filter_map(|r| match r {
                Value::Array(r) => {
                    let port = r.get(1).and_then(int).and_then(|p| u16::try_from(p).ok())?;
                    Some((host_or(r.first().and_then(text), asked), port))
                }
                _ => None,
            })
            .collect();
        layout.add_replicas(&(host.clone(), port), replicas);
        layout.ranges.push((start, end, (host, port)));
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::{parse_shards, parse_slots};
    use corelane_redis_proto::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.to_owned().into())
    }

    #[test]
    fn shards_resp3_picks_the_online_master() {
        let node = |port: i64, role: &str, health: &str| {
            Value::Map(vec![
                (bulk("id"), bulk("abc")),
                (bulk("port"), Value::Integer(port)),
                (bulk("ip"), bulk("127.0.0.1")),
                (bulk("endpoint"), bulk("127.0.0.1")),
                (bulk("role"), bulk(role)),
                (bulk("health"), bulk(health)),
            ])
        };
        let shard = Value::Map(vec![
            (
                bulk("slots"),
                Value::Array(vec![
                    Value::Integer(0),
                    Value::Integer(99),
                    Value::Integer(200),
                    Value::Integer(300),
                ]),
            ),
            (
                bulk("nodes"),
                Value::Array(vec![
                    node(7001, "replica", "online"),
                    node(7003, "replica", "failed"),
                    node(7000, "master", "failed"),
                    node(7002, "master", "online"),
                ]),
            ),
        ]);
        let layout = parse_shards(&Value::Array(vec![shard]), "seed").unwrap();
        let want = ("127.0.0.1".to_owned(), 7002);
        assert_eq!(
            layout.ranges,
            [(0, 99, want.clone()), (200, 300, want.clone())]
        );
        assert_eq!(
            layout.replicas,
            [(want, vec![("127.0.0.1".to_owned(), 7001)])]
        );
    }

    #[test]
    fn slots_resp2_and_an_unknown_host() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::Integer(0),
            Value::Integer(5460),
            Value::Array(vec![bulk(""), Value::Integer(7000), bulk("id")]),
            Value::Array(vec![bulk("127.0.0.1"), Value::Integer(7003), bulk("id2")]),
        ])]);
        let layout = parse_slots(&reply, "seed.host").unwrap();
        assert_eq!(layout.ranges, [(0, 5460, ("seed.host".to_owned(), 7000))]);
        assert_eq!(
            layout.replicas,
            [(
                ("seed.host".to_owned(), 7000),
                vec![("127.0.0.1".to_owned(), 7003)]
            )]
        );
        let bad = Value::Array(vec![Value::Array(vec![
            Value::Integer(0),
            Value::Integer(99999),
        ])]);
        assert!(parse_slots(&bad, "h").unwrap_err().is_cluster());
        assert!(parse_shards(&Value::Integer(1), "h")
            .unwrap_err()
            .is_cluster());
    }
}
