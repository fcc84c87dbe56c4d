//! `XINFO STREAM`, `XINFO GROUPS`, `XINFO CONSUMERS` replies: RESP3 maps, RESP2 flat arrays
//! of name/value pairs. Fields a server version does not send are `None`; fields this crate
//! does not know are skipped; a missing required field is a type error.

use corelane_redis_proto::Value;

use super::reply::{map_pairs, required, StreamId};
use crate::{Error, FromValue};

/// The reply of `XINFO STREAM key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// Number of entries.
    pub length: u64,
    /// Keys in the stream's radix tree.
    pub radix_tree_keys: u64,
    /// Nodes in the stream's radix tree.
    pub radix_tree_nodes: u64,
    /// The id of the last entry added (even if since deleted).
    pub last_generated_id: String,
    /// The highest id deleted (Redis 7+).
    pub max_deleted_entry_id: Option<String>,
    /// Entries ever added (Redis 7+).
    pub entries_added: Option<u64>,
    /// The first id still recorded (Redis 7+).
    pub recorded_first_entry_id: Option<String>,
    /// Number of consumer groups.
    pub groups: u64,
    /// The first entry (`None` when empty).
    pub first_entry: Option<StreamId>,
    /// The last entry.
    pub last_entry: Option<StreamId>,
}

impl FromValue for StreamInfo {
    fn from_value(value: Value) -> Result<Self, Error> {
        const WHAT: &str = "an XINFO STREAM reply";
        let mut info = StreamInfo::default();
        let (mut length, mut last_id, mut groups) = (None, None, None);
        for (name, value) in map_pairs(value, WHAT)? {
            match name.as_str() {
                "length" => length = Some(u64::from_value(value)?),
                "radix-tree-keys" => info.radix_tree_keys = u64::from_value(value)?,
                "radix-tree-nodes" => info.radix_tree_nodes = u64::from_value(value)?,
                "last-generated-id" => last_id = Some(String::from_value(value)?),
                "max-deleted-entry-id" => info.max_deleted_entry_id = Option::from_value(value)?,
                "entries-added" => info.entries_added = Option::from_value(value)?,
                "recorded-first-entry-id" => {
                    info.recorded_first_entry_id = Option::from_value(value)?
                }
                "groups" => groups = Some(u64::from_value(value)?),
                "first-entry" => info.first_entry = Option::from_value(value)?,
                "last-entry" => info.last_entry = Option::from_value(value)?,
                _ => {}
            }
        }
        info.length = required(length, "length", WHAT)?;
        info.last_generated_id = required(last_id, "last-generated-id", WHAT)?;
        info.groups = required(groups, "groups", WHAT)?;
        Ok(info)
    }
}

/// One element of `XINFO GROUPS key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamGroupInfo {
    /// The group's name.
    pub name: String,
    /// Number of consumers.
    pub consumers: u64,
    /// Entries delivered and not yet acknowledged.
    pub pending: u64,
    /// The id of the last entry delivered to the group.
    pub last_delivered_id: String,
    /// The logical read counter (Redis 7+; nil when the server cannot tell).
    pub entries_read: Option<u64>,
    /// Entries not yet delivered to the group (Redis 7+; nil when the server cannot tell).
    pub lag: Option<u64>,
}

impl FromValue for StreamGroupInfo {
    fn from_value(value: Value) -> Result<Self, Error> {
        const WHAT: &str = "an XINFO GROUPS element";
        let mut info = StreamGroupInfo::default();
        let (mut name, mut consumers, mut pending, mut last) = (None, None, None, None);
        for (field, value) in map_pairs(value, WHAT)? {
            match field.as_str() {
                "name" => name = Some(String::from_value(value)?),
                "consumers" => consumers = Some(u64::from_value(value)?),
                "pending" => pending = Some(u64::from_value(value)?),
                "last-delivered-id" => last = Some(String::from_value(value)?),
                "entries-read" => info.entries_read = Option::from_value(value)?,
                "lag" => info.lag = Option::from_value(value)?,
                _ => {}
            }
        }
        info.name = required(name, "name", WHAT)?;
        info.consumers = required(consumers, "consumers", WHAT)?;
        info.pending = required(pending, "pending", WHAT)?;
        info.last_delivered_id = required(last, "last-delivered-id", WHAT)?;
        Ok(info)
    }
}

/// One element of `XINFO CONSUMERS key group`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamConsumerInfo {
    /// The consumer's name.
    pub name: String,
    /// Entries delivered to it and not yet acknowledged.
    pub pending: u64,
    /// Milliseconds since its last attempted interaction.
    pub idle_ms: u64,
    /// Milliseconds since its last successful interaction (Redis 7.2+; -1 if never).
    pub inactive_ms: Option<i64>,
}

impl FromValue for StreamConsumerInfo {
    fn from_value(value: Value) -> Result<Self, Error> {
        const WHAT: &str = "an XINFO CONSUMERS element";
        let mut info = StreamConsumerInfo::default();
        let (mut name, mut pending, mut idle) = (None, None, None);
        for (field, value) in map_pairs(value, WHAT)? {
            match field.as_str() {
                "name" => name = Some(String::from_value(value)?),
                "pending" => pending = Some(u64::from_value(value)?),
                "idle" => idle = Some(u64::from_value(value)?),
                "inactive" => info.inactive_ms = Option::from_value(value)?,
                _ => {}
            }
        }
        info.name = required(name, "name", WHAT)?;
        info.pending = required(pending, "pending", WHAT)?;
        info.idle_ms = required(idle, "idle", WHAT)?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use corelane_redis_proto::NullKind;

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }
    fn int(i: i64) -> Value {
        Value::Integer(i)
    }

    fn stream_fields() -> Vec<(Value, Value)> {
        vec![
            (bulk("length"), int(2)),
            (bulk("radix-tree-keys"), int(1)),
            (bulk("radix-tree-nodes"), int(2)),
            (bulk("last-generated-id"), bulk("2-0")),
            (bulk("max-deleted-entry-id"), bulk("0-0")),
            (bulk("entries-added"), int(2)),
            (bulk("recorded-first-entry-id"), bulk("1-0")),
            (bulk("groups"), int(1)),
            (
                bulk("first-entry"),
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("f"), bulk("v")])]),
            ),
            (bulk("last-entry"), Value::Null(NullKind::Array)),
            (bulk("some-future-field"), Value::Array(vec![])),
        ]
    }

    #[test]
    fn stream_info_from_a_resp3_map_and_a_resp2_flat_array() {
        let resp3 = Value::Map(stream_fields());
        let resp2 = Value::Array(
            stream_fields()
                .into_iter()
                .flat_map(|(k, v)| [k, v])
                .collect(),
        );
        for reply in [resp3, resp2] {
            let info = StreamInfo::from_value(reply).unwrap();
            assert_eq!(info.length, 2);
            assert_eq!((info.radix_tree_keys, info.radix_tree_nodes), (1, 2));
            assert_eq!(info.last_generated_id, "2-0");
            assert_eq!(info.entries_added, Some(2));
            assert_eq!(info.groups, 1);
            assert_eq!(info.first_entry.map(|e| e.id).as_deref(), Some("1-0"));
            assert_eq!(info.last_entry, None);
        }
        // Redis 6: fewer fields.
        let old = Value::Map(vec![
            (bulk("length"), int(0)),
            (bulk("last-generated-id"), bulk("0-0")),
            (bulk("groups"), int(0)),
        ]);
        let info = StreamInfo::from_value(old).unwrap();
        assert_eq!(
            (info.entries_added, info.max_deleted_entry_id),
            (None, None)
        );
    }

    #[test]
    fn groups_and_consumers() {
        let group = Value::Map(vec![
            (bulk("name"), bulk("g")),
            (bulk("consumers"), int(2)),
            (bulk("pending"), int(3)),
            (bulk("last-delivered-id"), bulk("5-0")),
            (bulk("entries-read"), int(5)),
            (bulk("lag"), Value::Null(NullKind::Null)),
        ]);
        let g = StreamGroupInfo::from_value(group).unwrap();
        assert_eq!((g.name.as_str(), g.consumers, g.pending), ("g", 2, 3));
        assert_eq!((g.entries_read, g.lag), (Some(5), None));
        let consumer = Value::Array(vec![
            bulk("name"),
            bulk("c"),
            bulk("pending"),
            int(1),
            bulk("idle"),
            int(10),
        ]);
        let c = StreamConsumerInfo::from_value(consumer).unwrap();
        assert_eq!(
            (c.name.as_str(), c.pending, c.idle_ms, c.inactive_ms),
            ("c", 1, 10, None)
        );
    }

    #[test]
    fn malformed_info_is_a_type_error() {
        let cases = [
            bulk("x"),
            int(1),
            Value::Array(vec![bulk("length")]),
            Value::Map(vec![(bulk("length"), int(1))]),
            Value::Map(vec![
                (bulk("length"), bulk("many")),
                (bulk("last-generated-id"), bulk("0-0")),
                (bulk("groups"), int(0)),
            ]),
            Value::Null(NullKind::Null),
        ];
        for reply in cases {
            let e = StreamInfo::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
            let e = StreamGroupInfo::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
        }
    }
}
