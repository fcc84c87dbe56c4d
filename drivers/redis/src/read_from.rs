//! Reads from replicas (opt-in): which node kinds serve read-only commands, and which
//! commands count as read-only.

use corelane_redis_proto::Cmd;

use crate::Error;

/// Which nodes serve the read-only commands of a [`ClusterClient`](crate::cluster::ClusterClient)
/// ([`ClusterBuilder::read_from`](crate::cluster::ClusterBuilder::read_from), or `?read_from=` in a
/// `redis+cluster://` URL). Writes, transactions, pipelines and every command not known to
/// be read-only always go to the slot's master.
///
/// A replica is asynchronous: a read from it may not see a write the master acknowledged a
/// moment ago (`WAIT` on the master bounds that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadFrom {
    /// Every command goes to the slot's master (`read_from=master`). The default.
    #[default]
    Master,
    /// Read-only commands go to the replicas of the slot's shard, in turn (round robin);
    /// the master serves them when none of its replicas is known or the one chosen cannot
    /// be reached (`read_from=prefer-replica`).
    PreferReplica,
    /// Read-only commands go to the replicas of the slot's shard only, in turn; one that
    /// cannot be reached is skipped for the next (after the usual retry wait), and a shard
    /// with no replica known fails the read after the retries (`read_from=replica`).
    Replica,
}

impl ReadFrom {
    /// Parses a URL value: `master`, `replica`, `prefer-replica` (`prefer_replica` too).
    pub(crate) fn parse(value: &str) -> Result<ReadFrom, Error> {
        match value.to_ascii_lowercase().as_str() {
            "master" | "primary" => Ok(ReadFrom::Master),
            "replica" => Ok(ReadFrom::Replica),
            "prefer-replica" | "prefer_replica" => Ok(ReadFrom::PreferReplica),
            other => Err(Error::config(format!(
                "read_from={other:?}: expected master, replica or prefer-replica"
            ))),
        }
    }
}

/// Commands that never write, whatever their options (so `SORT`, `GEORADIUS` — which have a
/// `STORE` option — and `PFCOUNT` — which may rewrite its cache — are not here). Anything
/// not listed counts as a write and goes to the master.
const READ_ONLY: &[&str] = &[
    "GET",
    "MGET",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "BITFIELD_RO",
    "LCS",
    "EXISTS",
    "TYPE",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "DUMP",
    "HGET",
    "HMGET",
    "HGETALL",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HEXISTS",
    "HSTRLEN",
    "HRANDFIELD",
    "HSCAN",
    "LRANGE",
    "LLEN",
    "LINDEX",
    "LPOS",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SRANDMEMBER",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERCARD",
    "SSCAN",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZREVRANGEBYLEX",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANK",
    "ZREVRANK",
    "ZRANDMEMBER",
    "ZUNION",
    "ZINTER",
    "ZDIFF",
    "ZINTERCARD",
    "ZSCAN",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "GEOPOS",
    "GEODIST",
    "GEOHASH",
    "GEOSEARCH",
    "SORT_RO",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL_RO",
];

/// Whether `cmd` is known to only read (see [`READ_ONLY`]; unknown counts as a write).
pub(crate) fn is_read_only(cmd: &Cmd) -> bool {
    let Some(name) = cmd.iter_args().next() else {
        return false;
    };
    READ_ONLY
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::{is_read_only, ReadFrom};
    use corelane_redis_proto::Cmd;

    #[test]
    fn only_listed_commands_are_reads() {
        assert!(is_read_only(&Cmd::new("get").arg("k")));
        assert!(is_read_only(&Cmd::new("HGETALL").arg("h")));
        for write in [
            "SET",
            "INCR",
            "DEL",
            "SORT",
            "PFCOUNT",
            "EVAL",
            "UNKNOWNCMD",
        ] {
            assert!(!is_read_only(&Cmd::new(write).arg("k")), "{write}");
        }
    }

    #[test]
    fn parses_url_values() {
        assert_eq!(ReadFrom::parse("master").unwrap(), ReadFrom::Master);
        assert_eq!(ReadFrom::parse("Replica").unwrap(), ReadFrom::Replica);
        assert_eq!(
            ReadFrom::parse("prefer-replica").unwrap(),
            ReadFrom::PreferReplica
        );
        assert!(ReadFrom::parse("nearest").unwrap_err().is_config());
    }
}
