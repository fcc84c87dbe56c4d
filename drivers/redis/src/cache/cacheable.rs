//! Which commands the cache serves: reads of exactly one key, named in the second argument,
//! whose reply depends only on that key's value (and on nothing else: not the clock, not
//! chance), so that an invalidation of the key is all it takes to keep the reply current.

use corelane_redis_proto::Cmd;

/// The cacheable commands. Left out on purpose: `TTL`/`PTTL`/`EXPIRETIME` (change with the
/// clock, no invalidation), `SRANDMEMBER`/`HRANDFIELD`/`ZRANDMEMBER` (random), `GETEX`/
/// `GETDEL` (write), multi-key reads (`MGET`, `EXISTS a b`, `SINTER`: a reply per key set,
/// and an invalidation per key) and `TYPE`/`OBJECT` (metadata).
pub const CACHEABLE_COMMANDS: &[&str] = &[
    // strings
    "GET",
    "STRLEN",
    "GETRANGE",
    // hashes
    "HGET",
    "HMGET",
    "HGETALL",
    "HEXISTS",
    "HLEN",
    "HKEYS",
    "HVALS",
    "HSTRLEN",
    // lists
    "LRANGE",
    "LINDEX",
    "LLEN",
    // sets
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    // sorted sets
    "ZSCORE",
    "ZMSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZCARD",
    "ZCOUNT",
    "ZRANGE",
    "ZREVRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
];

/// The key of `cmd` when the cache may serve it.
pub(crate) fn cacheable_key(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.iter_args();
    let name = args.next()?;
    let key = args.next()?;
    CACHEABLE_COMMANDS
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
        .then_some(key)
}

/// The arguments of `cmd` but its key: what tells its replies apart within the key.
pub(crate) fn other_args(cmd: &Cmd) -> impl Iterator<Item = &[u8]> {
    cmd.iter_args()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, a)| a)
}

/// `CLIENT TRACKING …` / `CLIENT CACHING …`: refused on the shared connections of a client
/// that caches (turning tracking off there would leave its cache stale).
pub(crate) fn changes_tracking(cmd: &Cmd) -> bool {
    let mut args = cmd.iter_args();
    args.next()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"CLIENT"))
        && args.next().is_some_and(|s| {
            s.eq_ignore_ascii_case(b"TRACKING") || s.eq_ignore_ascii_case(b"CACHING")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_of_one_key_only() {
        assert_eq!(cacheable_key(&Cmd::new("get").arg("k")), Some(&b"k"[..]));
        assert_eq!(
            cacheable_key(&Cmd::new("HGET").arg("h").arg("f")),
            Some(&b"h"[..])
        );
        assert_eq!(cacheable_key(&Cmd::new("SET").arg("k").arg("v")), None);
        assert_eq!(cacheable_key(&Cmd::new("MGET").arg("a").arg("b")), None);
        assert_eq!(cacheable_key(&Cmd::new("TTL").arg("k")), None);
        assert_eq!(cacheable_key(&Cmd::new("GET")), None);
        let cmd = Cmd::new("HGET").arg("h").arg("f");
        let others: Vec<&[u8]> = other_args(&cmd).collect();
        assert_eq!(others, [&b"HGET"[..], &b"f"[..]]);
        assert!(changes_tracking(
            &Cmd::new("client").arg("tracking").arg("off")
        ));
        assert!(changes_tracking(
            &Cmd::new("CLIENT").arg("CACHING").arg("yes")
        ));
        assert!(!changes_tracking(&Cmd::new("CLIENT").arg("ID")));
    }
}
