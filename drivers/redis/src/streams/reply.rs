//! Stream replies: entries, read results, pending summaries and entries, `XAUTOCLAIM`.
//!
//! Each decodes the RESP2 and the RESP3 shape of its reply (RESP3 sends `XREAD`'s result as
//! a map where RESP2 sends an array of `[key, entries]` pairs). A reply of another shape is an
//! [`Error::is_type_mismatch`] error.

use bytes::Bytes;
use corelane_redis_proto::Value;

use crate::from_value::{elements, mismatch, ok, pairs};
use crate::{Error, FromValue};

/// Exactly `N` elements of an aggregate reply, or a type error naming `what`.
pub(crate) fn exactly<const N: usize>(value: Value, what: &str) -> Result<[Value; N], Error> {
    let items = elements(value, what)?;
    let got = items.len();
    <[Value; N]>::try_from(items)
        .map_err(|_| Error::type_mismatch(format!("expected {what} of {N} elements, got {got}")))
}

/// One stream entry: its id and its field/value pairs, in the order they were added (a field
/// may repeat). Read `XRANGE`/`XREVRANGE`/`XCLAIM` replies as `Vec<StreamId>`.
///
/// An entry deleted while still pending in a group comes back from `XREADGROUP … 0` with nil
/// fields: its `fields` are then empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamId {
    /// The entry's id (`1700000000000-0`).
    pub id: String,
    /// Field/value pairs (binary-safe).
    pub fields: Vec<(Bytes, Bytes)>,
}

impl StreamId {
    /// The value of the first field named `field`.
    pub fn get(&self, field: impl AsRef<[u8]>) -> Option<&Bytes> {
        let field = field.as_ref();
        self.fields
            .iter()
            .find(|(name, _)| name.as_ref() == field)
            .map(|(_, value)| value)
    }

    /// The value of `field` converted like a reply (`entry.field::<i64>("n")`): `Ok(None)`
    /// when the entry has no such field, a type error when it does not convert.
    pub fn field<T: FromValue>(&self, field: impl AsRef<[u8]>) -> Result<Option<T>, Error> {
        self.get(field)
            .map(|value| T::from_value(Value::BulkString(value.clone())))
            .transpose()
    }
}

impl FromValue for StreamId {
    fn from_value(value: Value) -> Result<Self, Error> {
        let [id, fields] = exactly::<2>(value, "a stream entry [id, fields]")?;
        let id = String::from_value(id)?;
        let fields = match ok(fields)? {
            Value::Null(_) => Vec::new(),
            fields => pairs(fields)?
                .into_iter()
                .map(|(k, v)| Ok((Bytes::from_value(k)?, Bytes::from_value(v)?)))
                .collect::<Result<_, Error>>()?,
        };
        Ok(StreamId { id, fields })
    }
}

/// The entries read from one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamKey {
    /// The stream's key.
    pub key: String,
    /// Its entries, oldest first.
    pub ids: Vec<StreamId>,
}

/// The reply of `XREAD` / `XREADGROUP`: the streams that had entries, in the order of the
/// reply. Empty when none had any (a blocking read that timed out answers nil).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReadReply {
    /// One element per stream that had entries.
    pub keys: Vec<StreamKey>,
}

impl StreamReadReply {
    /// The entries of stream `key` (empty when it had none).
    pub fn entries(&self, key: &str) -> &[StreamId] {
        self.keys
            .iter()
            .find(|k| k.key == key)
            .map_or(&[], |k| k.ids.as_slice())
    }

    /// True when no stream had entries.
    pub fn is_empty(&self) -> bool {
        self.keys.iter().all(|k| k.ids.is_empty())
    }
}

impl FromValue for StreamReadReply {
    fn from_value(value: Value) -> Result<Self, Error> {
        // RESP3: a map key -> entries; RESP2: an array of [key, entries]; nil: nothing.
        let keys = pairs(value)?
            .into_iter()
            .map(|(key, ids)| {
                Ok(StreamKey {
                    key: String::from_value(key)?,
                    ids: Vec::<StreamId>::from_value(ids)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(StreamReadReply { keys })
    }
}

/// The reply of `XPENDING key group` (the summary form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamPendingReply {
    /// How many entries are pending (delivered, not acknowledged).
    pub count: u64,
    /// The lowest pending id (`None` when nothing is pending).
    pub smallest_id: Option<String>,
    /// The highest pending id.
    pub greatest_id: Option<String>,
    /// Each consumer with pending entries, and how many.
    pub consumers: Vec<(String, u64)>,
}

impl FromValue for StreamPendingReply {
    fn from_value(value: Value) -> Result<Self, Error> {
        let [count, smallest, greatest, consumers] = exactly::<4>(value, "an XPENDING summary")?;
        let consumers = pairs(consumers)?
            .into_iter()
            .map(|(name, n)| Ok((String::from_value(name)?, u64::from_value(n)?)))
            .collect::<Result<_, Error>>()?;
        Ok(StreamPendingReply {
            count: u64::from_value(count)?,
            smallest_id: Option::from_value(smallest)?,
            greatest_id: Option::from_value(greatest)?,
            consumers,
        })
    }
}

/// One element of `XPENDING key group start end count [consumer]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamPendingEntry {
    /// The entry's id.
    pub id: String,
    /// The consumer it was delivered to.
    pub consumer: String,
    /// Milliseconds since it was last delivered.
    pub idle_ms: u64,
    /// How many times it was delivered.
    pub times_delivered: u64,
}

impl FromValue for StreamPendingEntry {
    fn from_value(value: Value) -> Result<Self, Error> {
        let [id, consumer, idle, delivered] = exactly::<4>(value, "an XPENDING entry")?;
        Ok(StreamPendingEntry {
            id: String::from_value(id)?,
            consumer: String::from_value(consumer)?,
            idle_ms: u64::from_value(idle)?,
            times_delivered: u64::from_value(delivered)?,
        })
    }
}

/// The reply of `XAUTOCLAIM`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamAutoClaimReply {
    /// Where the next `XAUTOCLAIM` should start (`0-0`: the scan is complete).
    pub next: String,
    /// The entries claimed by this call.
    pub claimed: Vec<StreamId>,
    /// Pending ids whose entries no longer exist (removed from the pending list; Redis 7+;
    /// empty on 6.2, which answers nil entries instead — those are skipped).
    pub deleted: Vec<String>,
}

impl FromValue for StreamAutoClaimReply {
    fn from_value(value: Value) -> Result<Self, Error> {
        let items = elements(value, "an XAUTOCLAIM reply")?;
        let got = items.len();
        if !(2..=3).contains(&got) {
            return Err(Error::type_mismatch(format!(
                "expected an XAUTOCLAIM reply of 2 or 3 elements, got {got}"
            )));
        }
        let mut it = items.into_iter();
        let next = String::from_value(it.next().unwrap_or(Value::NULL))?;
        let claimed = Vec::<Option<StreamId>>::from_value(it.next().unwrap_or(Value::NULL))?
            .into_iter()
            .flatten()
            .collect();
        let deleted = match it.next() {
            Some(deleted) => Vec::<String>::from_value(deleted)?,
            None => Vec::new(),
        };
        Ok(StreamAutoClaimReply {
            next,
            claimed,
            deleted,
        })
    }
}

/// A field of a map-shaped reply that must be there.
pub(crate) fn required<T>(field: Option<T>, name: &str, what: &str) -> Result<T, Error> {
    field.ok_or_else(|| Error::type_mismatch(format!("{what} without `{name}`")))
}

/// Rejects a reply that is not an aggregate before it is read as pairs (a string is no map).
pub(crate) fn map_pairs(value: Value, what: &str) -> Result<Vec<(String, Value)>, Error> {
    let value = ok(value)?;
    if !matches!(value, Value::Map(_) | Value::Array(_)) {
        return mismatch(what, &value);
    }
    pairs(value)?
        .into_iter()
        .map(|(k, v)| Ok((String::from_value(k)?, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelane_redis_proto::{NullKind, ServerError};

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }
    fn arr(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
    fn entry(id: &str, fields: &[&str]) -> Value {
        arr(vec![
            bulk(id),
            arr(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }
    fn want(id: &str, fields: &[(&str, &str)]) -> StreamId {
        StreamId {
            id: id.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (Bytes::from(k.to_string()), Bytes::from(v.to_string())))
                .collect(),
        }
    }

    #[test]
    fn entries_and_their_fields() {
        let e = StreamId::from_value(entry("1-0", &["a", "1", "b", "x", "a", "2"])).unwrap();
        assert_eq!(e, want("1-0", &[("a", "1"), ("b", "x"), ("a", "2")]));
        assert_eq!(e.get("a").map(|b| &b[..]), Some(&b"1"[..]));
        assert_eq!(e.field::<i64>("a").unwrap(), Some(1));
        assert_eq!(e.field::<i64>("zz").unwrap(), None);
        assert!(e.field::<i64>("b").unwrap_err().is_type_mismatch());
        // A deleted pending entry: nil fields.
        let e = StreamId::from_value(arr(vec![bulk("2-0"), Value::Null(NullKind::Array)])).unwrap();
        assert_eq!(e, want("2-0", &[]));
        // RESP3 map fields also read.
        let e = StreamId::from_value(arr(vec![
            bulk("3-0"),
            Value::Map(vec![(bulk("k"), bulk("v"))]),
        ]))
        .unwrap();
        assert_eq!(e, want("3-0", &[("k", "v")]));
    }

    #[test]
    fn read_replies_in_both_protocols() {
        let entries = || arr(vec![entry("1-0", &["f", "v"]), entry("2-0", &["g", "w"])]);
        let resp2 = arr(vec![arr(vec![bulk("s"), entries()])]);
        let resp3 = Value::Map(vec![(bulk("s"), entries())]);
        for reply in [resp2, resp3] {
            let r = StreamReadReply::from_value(reply).unwrap();
            assert_eq!(r.keys.len(), 1);
            assert_eq!(r.keys[0].key, "s");
            assert_eq!(
                r.entries("s"),
                [want("1-0", &[("f", "v")]), want("2-0", &[("g", "w")])]
            );
            assert!(r.entries("other").is_empty() && !r.is_empty());
        }
        for nil in [NullKind::Null, NullKind::Array] {
            assert!(StreamReadReply::from_value(Value::Null(nil))
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn pending_summary_entries_and_autoclaim() {
        let summary = arr(vec![
            Value::Integer(3),
            bulk("1-0"),
            bulk("3-0"),
            arr(vec![
                arr(vec![bulk("alice"), bulk("2")]),
                arr(vec![bulk("bob"), bulk("1")]),
            ]),
        ]);
        let s = StreamPendingReply::from_value(summary).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.smallest_id.as_deref(), Some("1-0"));
        assert_eq!(s.greatest_id.as_deref(), Some("3-0"));
        assert_eq!(s.consumers, [("alice".into(), 2), ("bob".into(), 1)]);
        let empty = arr(vec![
            Value::Integer(0),
            Value::Null(NullKind::Bulk),
            Value::Null(NullKind::Bulk),
            Value::Null(NullKind::Array),
        ]);
        let s = StreamPendingReply::from_value(empty).unwrap();
        assert_eq!((s.count, s.smallest_id, s.consumers.len()), (0, None, 0));

        let e = StreamPendingEntry::from_value(arr(vec![
            bulk("1-0"),
            bulk("alice"),
            Value::Integer(15),
            Value::Integer(2),
        ]))
        .unwrap();
        assert_eq!((e.id.as_str(), e.consumer.as_str()), ("1-0", "alice"));
        assert_eq!((e.idle_ms, e.times_delivered), (15, 2));

        let r = StreamAutoClaimReply::from_value(arr(vec![
            bulk("0-0"),
            arr(vec![
                entry("1-0", &["f", "v"]),
                Value::Null(NullKind::Array),
            ]),
            arr(vec![bulk("2-0")]),
        ]))
        .unwrap();
        assert_eq!(r.next, "0-0");
        assert_eq!(r.claimed, [want("1-0", &[("f", "v")])]);
        assert_eq!(r.deleted, ["2-0"]);
        // Redis 6.2: no third element.
        let r = StreamAutoClaimReply::from_value(arr(vec![bulk("5-0"), arr(vec![])])).unwrap();
        assert!(r.claimed.is_empty() && r.deleted.is_empty());
    }

    #[test]
    fn malformed_replies_are_type_errors() {
        let bad_entries = [
            bulk("1-0"),
            Value::Integer(1),
            arr(vec![bulk("1-0")]),
            arr(vec![bulk("1-0"), arr(vec![bulk("odd")])]),
            arr(vec![bulk("1-0"), bulk("not fields")]),
            arr(vec![arr(vec![]), arr(vec![])]),
            Value::Null(NullKind::Null),
        ];
        for reply in bad_entries {
            let e = StreamId::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
        }
        let bad_reads = [
            bulk("s"),
            arr(vec![bulk("s")]),
            arr(vec![arr(vec![bulk("s"), bulk("not entries")])]),
            Value::Map(vec![(bulk("s"), arr(vec![bulk("1-0")]))]),
        ];
        for reply in bad_reads {
            let e = StreamReadReply::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
        }
        let bad_pending = [
            arr(vec![Value::Integer(1)]),
            arr(vec![bulk("x"), bulk("1-0"), bulk("1-0"), arr(vec![])]),
            arr(vec![Value::Integer(1), bulk("1-0"), bulk("1-0"), bulk("c")]),
        ];
        for reply in bad_pending {
            let e = StreamPendingReply::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
        }
        assert!(StreamPendingEntry::from_value(arr(vec![bulk("1-0")]))
            .unwrap_err()
            .is_type_mismatch());
        for reply in [arr(vec![bulk("0-0")]), arr(vec![bulk("0-0"); 4]), bulk("x")] {
            let e = StreamAutoClaimReply::from_value(reply.clone()).unwrap_err();
            assert!(e.is_type_mismatch(), "{reply:?}: {e}");
        }
        // A server error keeps its code.
        let e =
            StreamReadReply::from_value(Value::Error(ServerError::new("NOGROUP x"))).unwrap_err();
        assert_eq!(e.code(), Some("NOGROUP"));
    }
}
