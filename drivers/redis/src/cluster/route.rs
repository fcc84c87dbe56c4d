//! Where a command goes in a cluster: the slot of its keys, any node, or nowhere.
//!
//! Most commands name one key, as their first argument. The tables below list the commands
//! with several keys (all of them must hash to one slot, or the command is refused before it
//! is sent: the server would answer `CROSSSLOT`), the commands with no key that any node
//! answers, and the cluster-wide commands a single node cannot answer for the whole cluster.

use corelane_redis_proto::Cmd;

use super::slot::key_slot;
use crate::Error;

/// Where one command is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// No key: any node answers it (`PING`, `ECHO`, `TIME`, `EVAL` with no key, …).
    Any,
    /// The master serving this slot.
    Slot(u16),
    /// Every master, the replies merged (`DBSIZE`, `KEYS`): see fanout.rs.
    All(Merge),
}

/// How the replies of a command sent to every master become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// Integers added (`DBSIZE`).
    Sum,
    /// Arrays concatenated (`KEYS`).
    Concat,
}

/// Key-less commands answered by every master, and how their replies merge.
const FAN_OUT: &[(&str, Merge)] = &[("DBSIZE", Merge::Sum), ("KEYS", Merge::Concat)];

/// Where the keys of a command sit in its arguments (0 is the command name).
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// Every argument from 1.
    All,
    /// Every argument from 1 but the last (a timeout).
    AllButLast,
    /// Arguments 1 and 2.
    Two,
    /// Every other argument from 1 (`MSET k v k v`).
    Pairs,
    /// A key count at this argument, the keys right after it.
    Counted(usize),
    /// A destination key at 1, a key count at 2, the keys after it (`ZUNIONSTORE`).
    DestCounted,
    /// The key at this argument (after a subcommand: `OBJECT ENCODING key`).
    At(usize),
    /// The keys after `STREAMS`: the first half of what follows it.
    Streams,
}

/// Commands whose keys are not just the first argument.
const KEYS: &[(&str, Keys)] = &[
    ("DEL", Keys::All),
    ("UNLINK", Keys::All),
    ("EXISTS", Keys::All),
    ("TOUCH", Keys::All),
    ("MGET", Keys::All),
    ("SINTER", Keys::All),
    ("SUNION", Keys::All),
    ("SDIFF", Keys::All),
    ("SINTERSTORE", Keys::All),
    ("SUNIONSTORE", Keys::All),
    ("SDIFFSTORE", Keys::All),
    ("PFCOUNT", Keys::All),
    ("PFMERGE", Keys::All),
    ("BLPOP", Keys::AllButLast),
    ("BRPOP", Keys::AllButLast),
    ("BZPOPMIN", Keys::AllButLast),
    ("BZPOPMAX", Keys::AllButLast),
    ("RENAME", Keys::Two),
    ("RENAMENX", Keys::Two),
    ("SMOVE", Keys::Two),
    ("RPOPLPUSH", Keys::Two),
    ("BRPOPLPUSH", Keys::Two),
    ("LMOVE", Keys::Two),
    ("BLMOVE", Keys::Two),
    ("COPY", Keys::Two),
    ("LCS", Keys::Two),
    ("GEOSEARCHSTORE", Keys::Two),
    ("GEORADIUS_STORE", Keys::Two),
    ("ZRANGESTORE", Keys::Two),
    ("MSET", Keys::Pairs),
    ("MSETNX", Keys::Pairs),
    ("EVAL", Keys::Counted(2)),
    ("EVALSHA", Keys::Counted(2)),
    ("EVAL_RO", Keys::Counted(2)),
    ("EVALSHA_RO", Keys::Counted(2)),
    ("FCALL", Keys::Counted(2)),
    ("FCALL_RO", Keys::Counted(2)),
    ("ZUNION", Keys::Counted(1)),
    ("ZINTER", Keys::Counted(1)),
    ("ZDIFF", Keys::Counted(1)),
    ("ZINTERCARD", Keys::Counted(1)),
    ("SINTERCARD", Keys::Counted(1)),
    ("LMPOP", Keys::Counted(1)),
    ("ZMPOP", Keys::Counted(1)),
    ("BLMPOP", Keys::Counted(2)),
    ("BZMPOP", Keys::Counted(2)),
    ("ZUNIONSTORE", Keys::DestCounted),
    ("ZINTERSTORE", Keys::DestCounted),
    ("ZDIFFSTORE", Keys::DestCounted),
    ("OBJECT", Keys::At(2)),
    ("MEMORY", Keys::At(2)),
    ("XINFO", Keys::At(2)),
    ("XGROUP", Keys::At(2)),
    ("XREAD", Keys::Streams),
    ("XREADGROUP", Keys::Streams),
];

/// Commands with no key that any node answers.
const ANY_NODE: &[&str] = &[
    "PING", "ECHO", "TIME", "COMMAND", "LASTSAVE", "LOLWUT", "PUBLISH",
];

/// Commands about the whole keyspace or the server, which one node cannot answer for the
/// cluster (not yet: fan-out for these; `DBSIZE` and `KEYS` are fanned out). Sent as a raw command they are refused with
/// [`Error::is_unroutable`](crate::Error::is_unroutable).
const CLUSTER_WIDE: &[&str] = &[
    "KEYS",
    "SCAN",
    "DBSIZE",
    "RANDOMKEY",
    "FLUSHALL",
    "FLUSHDB",
    "SCRIPT",
    "FUNCTION",
    "CONFIG",
    "INFO",
    "CLUSTER",
    "CLIENT",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "SHUTDOWN",
    "SWAPDB",
    "MOVE",
    "DEBUG",
    "SLOWLOG",
    "LATENCY",
    "ACL",
    "MODULE",
    "REPLICAOF",
    "SLAVEOF",
    "FAILOVER",
    "PUBSUB",
];

/// Where `cmd` goes: the slot all its keys share, or any node when it has none. Fails before
/// anything is sent when its keys hash to different slots ([`Error::is_cross_slot`]) or when
/// it is a cluster-wide command ([`Error::is_unroutable`]).
///
/// [`Error::is_cross_slot`]: crate::Error::is_cross_slot
/// [`Error::is_unroutable`]: crate::Error::is_unroutable
pub(crate) fn target(cmd: &Cmd) -> Result<Target, Error> {
    let mut iter = cmd.iter_args();
    let Some(name) = iter.next() else {
        return Ok(Target::Any);
    };
    let is = |want: &str| name.eq_ignore_ascii_case(want.as_bytes());
    if ANY_NODE.iter().any(|c| is(c)) {
        return Ok(Target::Any);
    }
    if let Some((_, merge)) = FAN_OUT.iter().find(|(c, _)| is(c)) {
        return Ok(Target::All(*merge));
    }
    if CLUSTER_WIDE.iter().any(|c| is(c)) {
        return Err(Error::unroutable(
            name,
            "it acts on the whole keyspace or on one server, and a cluster client routes by \
             key; send it to each node with a Client of that node (not yet: fan-out)",
        ));
    }
    let Some(spec) = KEYS.iter().find(|(c, _)| is(c)).map(|(_, k)| *k) else {
        // Most commands: the key is the first argument. No list of arguments is made (the
        // per-call path stays free of allocation here).
        return Ok(iter
            .next()
            .map_or(Target::Any, |key| Target::Slot(key_slot(key))));
    };
    let args: Vec<&[u8]> = cmd.iter_args().collect();
    let mut slot = None;
    for key in keys(&args, spec) {
        let s = key_slot(key);
        match slot {
            None => slot = Some(s),
            Some(first) if first != s => return Err(Error::cross_slot(name, first, s)),
            Some(_) => {}
        }
    }
    Ok(slot.map_or(Target::Any, Target::Slot))
}

/// The key arguments of a command with argument list `args`, per `spec`. Out-of-range
/// positions and counts give fewer keys, never a panic.
fn keys<'a>(args: &[&'a [u8]], spec: Keys) -> Vec<&'a [u8]> {
    let rest = |from: usize| args.get(from..).unwrap_or_default().to_vec();
    let count_at = |at: usize| -> usize {
        args.get(at)
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    match spec {
        Keys::All => rest(1),
        Keys::AllButLast => {
            let end = args.len().saturating_sub(1).max(1);
            args.get(1..end).unwrap_or_default().to_vec()
        }
        Keys::Two => args.iter().skip(1).take(2).copied().collect(),
        Keys::Pairs => args.iter().skip(1).step_by(2).copied().collect(),
        Keys::Counted(at) => args
            .iter()
            .skip(at + 1)
            .take(count_at(at))
            .copied()
            .collect(),
        Keys::DestCounted => {
            let mut keys: Vec<&[u8]> = args.get(1).copied().into_iter().collect();
            keys.extend(args.iter().skip(3).take(count_at(2)).copied());
            keys
        }
        Keys::At(at) => args.get(at).copied().into_iter().collect(),
        Keys::Streams => {
            let Some(pos) = args.iter().position(|a| a.eq_ignore_ascii_case(b"STREAMS")) else {
                return Vec::new();
            };
            let after = rest(pos + 1);
            after[..after.len() / 2].to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{target, Target};
    use crate::cluster::slot::key_slot;
    use corelane_redis_proto::Cmd;

    fn cmd(args: &[&str]) -> Cmd {
        let mut cmd = Cmd::new(args[0]);
        for a in &args[1..] {
            cmd.push(*a);
        }
        cmd
    }

    fn slot(k: &str) -> Target {
        Target::Slot(key_slot(k.as_bytes()))
    }

    #[test]
    fn first_key_for_most_commands() {
        assert_eq!(target(&cmd(&["GET", "a"])).unwrap(), slot("a"));
        assert_eq!(target(&cmd(&["hset", "h", "f", "v"])).unwrap(), slot("h"));
        assert_eq!(
            target(&cmd(&["OBJECT", "ENCODING", "k"])).unwrap(),
            slot("k")
        );
    }

    #[test]
    fn multi_key_commands_need_one_slot() {
        let ok = target(&cmd(&["MSET", "{u}a", "1", "{u}b", "2"])).unwrap();
        assert_eq!(ok, slot("u"));
        // Values never count as keys.
        let ok = target(&cmd(&["MSET", "{u}a", "x", "{u}b", "y"])).unwrap();
        assert_eq!(ok, slot("u"));
        let e = target(&cmd(&["MGET", "a", "b"])).unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        assert!(e.to_string().contains("MGET"), "{e}");
        let e = target(&cmd(&["DEL", "{x}1", "{y}1"])).unwrap_err();
        assert!(e.is_cross_slot());
        // The timeout of BLPOP is no key; the count of EVAL is no key.
        assert_eq!(
            target(&cmd(&["BLPOP", "{q}1", "{q}2", "0"])).unwrap(),
            slot("q")
        );
        assert_eq!(
            target(&cmd(&["EVAL", "return 1", "2", "{k}a", "{k}b", "argv"])).unwrap(),
            slot("k")
        );
        assert_eq!(
            target(&cmd(&["EVAL", "return 1", "0"])).unwrap(),
            Target::Any
        );
        assert!(target(&cmd(&["ZUNIONSTORE", "d", "2", "{d}x", "y"])).is_err());
        assert_eq!(
            target(&cmd(&[
                "XREAD", "COUNT", "2", "STREAMS", "{s}1", "{s}2", "0", "0"
            ]))
            .unwrap(),
            slot("s")
        );
        // A count past the end gives fewer keys, not a panic.
        assert_eq!(target(&cmd(&["EVAL", "s", "99", "k"])).unwrap(), slot("k"));
    }

    #[test]
    fn keyless_commands() {
        assert_eq!(target(&cmd(&["PING"])).unwrap(), Target::Any);
        assert_eq!(target(&cmd(&["echo", "x"])).unwrap(), Target::Any);
        assert_eq!(
            target(&cmd(&["DBSIZE"])).unwrap(),
            Target::All(super::Merge::Sum)
        );
        assert_eq!(
            target(&cmd(&["keys", "*"])).unwrap(),
            Target::All(super::Merge::Concat)
        );
        for wide in [&["FLUSHALL"][..], &["SCAN", "0"], &["CONFIG", "GET", "x"]] {
            let e = target(&cmd(wide)).unwrap_err();
            assert!(e.is_unroutable(), "{e}");
        }
    }
}
