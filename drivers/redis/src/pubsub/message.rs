//! What a subscribed connection receives, and how a frame is told apart (sans-IO).
//!
//! In RESP3 pub/sub traffic arrives as push frames (`>`); in RESP2 as ordinary arrays. Both
//! have the same shape — the kind first — so one classifier serves both:
//!
//! ```text
//! message      channel  payload            smessage  channel  payload
//! pmessage     pattern  channel  payload
//! subscribe    channel  count              unsubscribe   channel|null  count
//! psubscribe   pattern  count              punsubscribe  pattern|null  count
//! ssubscribe   channel  count              sunsubscribe  channel|null  count
//! pong         data                        (RESP2 PING in subscribed mode)
//! ```

use bytes::Bytes;
use corelane_redis_proto::{Frame, Value};
use corelane_runtime::CloseCause;

/// One published message.
///
/// Redis pub/sub is at-most-once: a message published while the subscriber's connection is
/// down (between a drop and the resubscribe) is not delivered, and is never delivered twice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The channel it was published to (for a pattern match, the concrete channel).
    pub channel: Bytes,
    /// The pattern that matched, for a `PSUBSCRIBE` subscription; `None` otherwise.
    pub pattern: Option<Bytes>,
    /// The payload, as published.
    pub payload: Bytes,
    /// True for a shard-channel message (`SSUBSCRIBE` / `SPUBLISH`).
    pub sharded: bool,
}

impl Message {
    /// The channel as UTF-8, if it is.
    pub fn channel_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.channel).ok()
    }

    /// The payload as UTF-8, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// The three subscription namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SubKind {
    /// `SUBSCRIBE` / `UNSUBSCRIBE`.
    Channel,
    /// `PSUBSCRIBE` / `PUNSUBSCRIBE`.
    Pattern,
    /// `SSUBSCRIBE` / `SUNSUBSCRIBE`.
    Shard,
}

/// A subscribe or an unsubscribe in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Action {
    pub(crate) subscribe: bool,
    pub(crate) kind: SubKind,
}

impl Action {
    pub(crate) fn command(self) -> &'static str {
        match (self.subscribe, self.kind) {
            (true, SubKind::Channel) => "SUBSCRIBE",
            (true, SubKind::Pattern) => "PSUBSCRIBE",
            (true, SubKind::Shard) => "SSUBSCRIBE",
            (false, SubKind::Channel) => "UNSUBSCRIBE",
            (false, SubKind::Pattern) => "PUNSUBSCRIBE",
            (false, SubKind::Shard) => "SUNSUBSCRIBE",
        }
    }

    fn from_kind(kind: &[u8]) -> Option<Action> {
        let (subscribe, kind) = match kind {
            b"subscribe" => (true, SubKind::Channel),
            b"psubscribe" => (true, SubKind::Pattern),
            b"ssubscribe" => (true, SubKind::Shard),
            b"unsubscribe" => (false, SubKind::Channel),
            b"punsubscribe" => (false, SubKind::Pattern),
            b"sunsubscribe" => (false, SubKind::Shard),
            _ => return None,
        };
        Some(Action { subscribe, kind })
    }
}

/// A decoded frame, as the subscribed connection sees it.
#[derive(Debug, PartialEq)]
pub(crate) enum Event {
    /// A published message.
    Message(Message),
    /// The server confirmed one name of a (un)subscribe command (the name; `None` for an
    /// unsubscribe from nothing), or, unsolicited, dropped a subscription itself (a cluster
    /// node whose slot moved away sends `sunsubscribe`).
    Confirm(Action, Option<Bytes>),
    /// Something to ignore: a `pong`, a push of another kind (e.g. `invalidate`).
    Ignore,
    /// An ordinary reply: to a handshake command, or an error refusing a (un)subscribe.
    Reply(Value),
}

fn protocol(kind: &str) -> CloseCause {
    CloseCause::protocol(format!("malformed pub/sub `{kind}` frame"))
}

fn bytes_at(items: &[Value], i: usize, kind: &str) -> Result<Bytes, CloseCause> {
    items
        .get(i)
        .and_then(Value::as_bytes)
        .cloned()
        .ok_or_else(|| protocol(kind))
}

/// Classifies one frame. A frame of a pub/sub kind with the wrong shape is a protocol error:
/// the server and this client disagree about the stream, so nothing after it can be trusted.
pub(crate) fn classify(frame: Frame) -> Result<Event, CloseCause> {
    let (items, pushed) = match frame {
        Frame::Push(items) => (items, true),
        Frame::Reply(Value::Array(items)) => (items, false),
        Frame::Reply(other) => return Ok(Event::Reply(other)),
        other => return Ok(Event::Reply(other.into_value())),
    };
    let kind = items
        .first()
        .and_then(Value::as_bytes)
        .map(|k| k.to_ascii_lowercase());
    let Some(kind) = kind else {
        return Ok(if pushed {
            Event::Ignore
        } else {
            Event::Reply(Value::Array(items))
        });
    };
    match kind.as_slice() {
        b"message" | b"smessage" => {
            let name = if kind == b"message" {
                "message"
            } else {
                "smessage"
            };
            if items.len() != 3 {
                return Err(protocol(name));
            }
            Ok(Event::Message(Message {
                channel: bytes_at(&items, 1, name)?,
                pattern: None,
                payload: bytes_at(&items, 2, name)?,
                sharded: kind == b"smessage",
            }))
        }
        b"pmessage" => {
            if items.len() != 4 {
                return Err(protocol("pmessage"));
            }
            Ok(Event::Message(Message {
                pattern: Some(bytes_at(&items, 1, "pmessage")?),
                channel: bytes_at(&items, 2, "pmessage")?,
                payload: bytes_at(&items, 3, "pmessage")?,
                sharded: false,
            }))
        }
        b"pong" => Ok(Event::Ignore),
        other => match Action::from_kind(other) {
            Some(action) => match items.get(2) {
                Some(Value::Integer(_)) if items.len() == 3 => Ok(Event::Confirm(
                    action,
                    items.get(1).and_then(Value::as_bytes).cloned(),
                )),
                _ => Err(protocol(action.command())),
            },
            None if pushed => Ok(Event::Ignore),
            None => Ok(Event::Reply(Value::Array(items))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn msg(channel: &str, pattern: Option<&str>, payload: &str, sharded: bool) -> Event {
        Event::Message(Message {
            channel: Bytes::copy_from_slice(channel.as_bytes()),
            pattern: pattern.map(|p| Bytes::copy_from_slice(p.as_bytes())),
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            sharded,
        })
    }

    #[test]
    fn messages_in_both_protocols() {
        for wrap in [Frame::Push as fn(Vec<Value>) -> Frame, |v| {
            Frame::Reply(Value::Array(v))
        }] {
            let m = classify(wrap(vec![bulk("message"), bulk("ch"), bulk("hi")]));
            assert_eq!(m, Ok(msg("ch", None, "hi", false)));
            let m = classify(wrap(vec![
                bulk("pmessage"),
                bulk("c*"),
                bulk("ch"),
                bulk("x"),
            ]));
            assert_eq!(m, Ok(msg("ch", Some("c*"), "x", false)));
            let m = classify(wrap(vec![bulk("smessage"), bulk("s"), bulk("")]));
            assert_eq!(m, Ok(msg("s", None, "", true)));
        }
    }

    #[test]
    fn confirmations_and_ignored() {
        let c = classify(Frame::Push(vec![
            bulk("psubscribe"),
            bulk("a*"),
            Value::Integer(1),
        ]));
        assert_eq!(
            c,
            Ok(Event::Confirm(
                Action {
                    subscribe: true,
                    kind: SubKind::Pattern
                },
                Some(Bytes::from_static(b"a*"))
            ))
        );
        let c = classify(Frame::Reply(Value::Array(vec![
            bulk("unsubscribe"),
            Value::NULL,
            Value::Integer(0),
        ])));
        assert_eq!(
            c,
            Ok(Event::Confirm(
                Action {
                    subscribe: false,
                    kind: SubKind::Channel
                },
                None
            ))
        );
        let pong = Frame::Reply(Value::Array(vec![bulk("pong"), bulk("")]));
        assert_eq!(classify(pong), Ok(Event::Ignore));
        let inv = Frame::Push(vec![bulk("invalidate"), Value::Array(vec![])]);
        assert_eq!(classify(inv), Ok(Event::Ignore));
    }

    #[test]
    fn replies_pass_through() {
        let ok = Value::SimpleString(Bytes::from_static(b"OK"));
        assert_eq!(classify(Frame::Reply(ok.clone())), Ok(Event::Reply(ok)));
        let arr = Value::Array(vec![bulk("server"), bulk("redis")]);
        assert_eq!(classify(Frame::Reply(arr.clone())), Ok(Event::Reply(arr)));
        let ints = Value::Array(vec![Value::Integer(1)]);
        assert_eq!(classify(Frame::Reply(ints.clone())), Ok(Event::Reply(ints)));
    }

    #[test]
    fn malformed_pubsub_frames_are_protocol_errors() {
        let bad = [
            vec![bulk("message"), bulk("ch")],
            vec![bulk("message"), bulk("ch"), Value::Integer(3)],
            vec![bulk("pmessage"), bulk("p"), bulk("ch")],
            vec![bulk("subscribe"), bulk("ch"), bulk("1")],
            vec![bulk("subscribe"), bulk("ch")],
        ];
        for items in bad {
            assert!(classify(Frame::Push(items)).is_err());
        }
    }
}
