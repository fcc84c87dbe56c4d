//! The typed commands, defined once for [`Client`] (returning a [`Call`]), [`Exclusive`]
//! (an `async` method on the checked-out connection: transactions and `with_connection`),
//! [`Pipeline`] (chaining), and their cluster twins [`ClusterClient`] and [`ClusterPipeline`].
//!
//! [`Client`]: crate::Client
//! [`Call`]: crate::Call
//! [`Pipeline`]: crate::Pipeline
//! [`Exclusive`]: crate::Exclusive
//! [`ClusterClient`]: crate::cluster::ClusterClient
//! [`ClusterPipeline`]: crate::cluster::ClusterPipeline

use corelane_redis_proto::{Cmd, ToArg};

/// Expiry and condition options of `SET`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetOptions {
    /// Expire after this many milliseconds (`PX`).
    pub expire_ms: Option<u64>,
    /// Only set if the key does not exist (`NX`) / already exists (`XX`).
    pub condition: Option<SetCondition>,
    /// Keep the existing time to live (`KEEPTTL`).
    pub keep_ttl: bool,
    /// Return the old value (`GET`).
    pub get: bool,
}

/// `NX` / `XX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// Only if the key does not exist.
    NotExists,
    /// Only if the key exists.
    Exists,
}

impl SetOptions {
    /// Expire after `ms` milliseconds.
    pub fn expire_ms(mut self, ms: u64) -> Self {
        self.expire_ms = Some(ms);
        self
    }
    /// Only if the key does not exist.
    pub fn nx(mut self) -> Self {
        self.condition = Some(SetCondition::NotExists);
        self
    }
    /// Only if the key exists.
    pub fn xx(mut self) -> Self {
        self.condition = Some(SetCondition::Exists);
        self
    }
    /// Keep the key's time to live.
    pub fn keep_ttl(mut self) -> Self {
        self.keep_ttl = true;
        self
    }
    /// Return the old value.
    pub fn get(mut self) -> Self {
        self.get = true;
        self
    }

    fn apply(self, mut cmd: Cmd) -> Cmd {
        if let Some(ms) = self.expire_ms {
            cmd = cmd.arg("PX").arg(ms);
        }
        match self.condition {
            Some(SetCondition::NotExists) => cmd = cmd.arg("NX"),
            Some(SetCondition::Exists) => cmd = cmd.arg("XX"),
            None => {}
        }
        if self.keep_ttl {
            cmd = cmd.arg("KEEPTTL");
        }
        if self.get {
            cmd = cmd.arg("GET");
        }
        cmd
    }
}

pub(crate) fn with_all(mut cmd: Cmd, items: &[impl ToArg]) -> Cmd {
    for item in items {
        cmd = cmd.arg(item);
    }
    cmd
}

pub(crate) fn with_pairs(mut cmd: Cmd, pairs: &[(impl ToArg, impl ToArg)]) -> Cmd {
    for (a, b) in pairs {
        cmd = cmd.arg(a).arg(b);
    }
    cmd
}

/// The reply kind a typed command declares (`-> bulk`): see [`Reply`](crate::call::Reply).
macro_rules! reply_kind {
    () => {
        $crate::call::Reply::Any
    };
    (bulk) => {
        $crate::call::Reply::Bulk
    };
}
pub(crate) use reply_kind;

/// Defines each command once, as a `Client` method returning `Call<T>`, an `async` method of
/// `Exclusive`, a chaining `Pipeline` method, and their cluster twins. Used here and by the
/// other command groups (streams.rs).
macro_rules! commands {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) $(-> $reply:ident)? $body:block
    )*) => {
        impl $crate::Client {
            $(
                $(#[$doc])*
                pub fn $name<T: $crate::FromValue>(&self, $($arg: $ty),*) -> $crate::Call<T> {
                    self.typed($body, $crate::commands::reply_kind!($($reply)?))
                }
            )*
        }

        impl $crate::Exclusive {
            $(
                $(#[$doc])*
                pub async fn $name<T: $crate::FromValue>(
                    &self,
                    $($arg: $ty),*
                ) -> Result<T, $crate::Error> {
                    self.typed($body, $crate::commands::reply_kind!($($reply)?)).await
                }
            )*
        }

        impl $crate::Pipeline {
            $(
                $(#[$doc])*
                pub fn $name(&mut self, $($arg: $ty),*) -> &mut Self {
                    self.add($body)
                }
            )*
        }

        impl $crate::cluster::ClusterClient {
            $(
                $(#[$doc])*
                pub fn $name<T: $crate::FromValue>(
                    &self,
                    $($arg: $ty),*
                ) -> $crate::cluster::ClusterCall<T> {
                    self.typed($body, $crate::commands::reply_kind!($($reply)?))
                }
            )*
        }

        impl $crate::cluster::ClusterPipeline {
            $(
                $(#[$doc])*
                pub fn $name(&mut self, $($arg: $ty),*) -> &mut Self {
                    self.add($body)
                }
            )*
        }
    };
}
pub(crate) use commands;

commands! {
    // ---- strings
    /// `GET key`.
    fn get(key: impl ToArg) -> bulk { Cmd::new("GET").arg(key) }
    /// `SET key value`.
    fn set(key: impl ToArg, value: impl ToArg) { Cmd::new("SET").arg(key).arg(value) }
    /// `SET key value` with options (expiry, NX/XX, KEEPTTL, GET).
    fn set_options(key: impl ToArg, value: impl ToArg, options: SetOptions) {
        options.apply(Cmd::new("SET").arg(key).arg(value))
    }
    /// `SET key value EX seconds`.
    fn set_ex(key: impl ToArg, value: impl ToArg, seconds: u64) {
        Cmd::new("SET").arg(key).arg(value).arg("EX").arg(seconds)
    }
    /// `SETNX key value` (true when set).
    fn set_nx(key: impl ToArg, value: impl ToArg) { Cmd::new("SETNX").arg(key).arg(value) }
    /// `GETDEL key`.
    fn get_del(key: impl ToArg) -> bulk { Cmd::new("GETDEL").arg(key) }
    /// `GETEX key PX ms` (`None`: `PERSIST`).
    fn get_ex(key: impl ToArg, expire_ms: Option<u64>) -> bulk {
        match expire_ms {
            Some(ms) => Cmd::new("GETEX").arg(key).arg("PX").arg(ms),
            None => Cmd::new("GETEX").arg(key).arg("PERSIST"),
        }
    }
    /// `MGET key...`.
    fn mget(keys: &[impl ToArg]) { with_all(Cmd::new("MGET"), keys) }
    /// `MSET key value ...`.
    fn mset(pairs: &[(impl ToArg, impl ToArg)]) { with_pairs(Cmd::new("MSET"), pairs) }
    /// `INCR key`.
    fn incr(key: impl ToArg) { Cmd::new("INCR").arg(key) }
    /// `INCRBY key delta`.
    fn incr_by(key: impl ToArg, delta: i64) { Cmd::new("INCRBY").arg(key).arg(delta) }
    /// `INCRBYFLOAT key delta`.
    fn incr_by_float(key: impl ToArg, delta: f64) { Cmd::new("INCRBYFLOAT").arg(key).arg(delta) }
    /// `DECR key`.
    fn decr(key: impl ToArg) { Cmd::new("DECR").arg(key) }
    /// `DECRBY key delta`.
    fn decr_by(key: impl ToArg, delta: i64) { Cmd::new("DECRBY").arg(key).arg(delta) }
    /// `APPEND key value`.
    fn append(key: impl ToArg, value: impl ToArg) { Cmd::new("APPEND").arg(key).arg(value) }
    /// `STRLEN key`.
    fn strlen(key: impl ToArg) { Cmd::new("STRLEN").arg(key) }
    /// `GETRANGE key start end`.
    fn getrange(key: impl ToArg, start: i64, end: i64) -> bulk {
        Cmd::new("GETRANGE").arg(key).arg(start).arg(end)
    }

    // ---- keys
    /// `DEL key...` (how many were removed).
    fn del(keys: &[impl ToArg]) { with_all(Cmd::new("DEL"), keys) }
    /// `UNLINK key...`.
    fn unlink(keys: &[impl ToArg]) { with_all(Cmd::new("UNLINK"), keys) }
    /// `EXISTS key...` (how many exist).
    fn exists(keys: &[impl ToArg]) { with_all(Cmd::new("EXISTS"), keys) }
    /// `EXPIRE key seconds`.
    fn expire(key: impl ToArg, seconds: i64) { Cmd::new("EXPIRE").arg(key).arg(seconds) }
    /// `PEXPIRE key ms`.
    fn pexpire(key: impl ToArg, ms: i64) { Cmd::new("PEXPIRE").arg(key).arg(ms) }
    /// `EXPIREAT key unix_seconds`.
    fn expire_at(key: impl ToArg, unix_seconds: i64) {
        Cmd::new("EXPIREAT").arg(key).arg(unix_seconds)
    }
    /// `TTL key` (-1: no expiry, -2: no key).
    fn ttl(key: impl ToArg) { Cmd::new("TTL").arg(key) }
    /// `PTTL key`.
    fn pttl(key: impl ToArg) { Cmd::new("PTTL").arg(key) }
    /// `PERSIST key`.
    fn persist(key: impl ToArg) { Cmd::new("PERSIST").arg(key) }
    /// `TYPE key`.
    fn key_type(key: impl ToArg) { Cmd::new("TYPE").arg(key) }
    /// `RENAME key new`.
    fn rename(key: impl ToArg, new_key: impl ToArg) { Cmd::new("RENAME").arg(key).arg(new_key) }
    /// `RENAMENX key new`.
    fn rename_nx(key: impl ToArg, new_key: impl ToArg) {
        Cmd::new("RENAMENX").arg(key).arg(new_key)
    }

    // ---- hashes
    /// `HSET key field value`.
    fn hset(key: impl ToArg, field: impl ToArg, value: impl ToArg) {
        Cmd::new("HSET").arg(key).arg(field).arg(value)
    }
    /// `HSET key field value ...`.
    fn hset_multiple(key: impl ToArg, pairs: &[(impl ToArg, impl ToArg)]) {
        with_pairs(Cmd::new("HSET").arg(key), pairs)
    }
    /// `HSETNX key field value`.
    fn hset_nx(key: impl ToArg, field: impl ToArg, value: impl ToArg) {
        Cmd::new("HSETNX").arg(key).arg(field).arg(value)
    }
    /// `HGET key field`.
    fn hget(key: impl ToArg, field: impl ToArg) -> bulk { Cmd::new("HGET").arg(key).arg(field) }
    /// `HMGET key field...`.
    fn hmget(key: impl ToArg, fields: &[impl ToArg]) { with_all(Cmd::new("HMGET").arg(key), fields) }
    /// `HGETALL key` (into a map).
    fn hgetall(key: impl ToArg) { Cmd::new("HGETALL").arg(key) }
    /// `HDEL key field...`.
    fn hdel(key: impl ToArg, fields: &[impl ToArg]) { with_all(Cmd::new("HDEL").arg(key), fields) }
    /// `HEXISTS key field`.
    fn hexists(key: impl ToArg, field: impl ToArg) { Cmd::new("HEXISTS").arg(key).arg(field) }
    /// `HINCRBY key field delta`.
    fn hincr_by(key: impl ToArg, field: impl ToArg, delta: i64) {
        Cmd::new("HINCRBY").arg(key).arg(field).arg(delta)
    }
    /// `HINCRBYFLOAT key field delta`.
    fn hincr_by_float(key: impl ToArg, field: impl ToArg, delta: f64) {
        Cmd::new("HINCRBYFLOAT").arg(key).arg(field).arg(delta)
    }
    /// `HKEYS key`.
    fn hkeys(key: impl ToArg) { Cmd::new("HKEYS").arg(key) }
    /// `HVALS key`.
    fn hvals(key: impl ToArg) { Cmd::new("HVALS").arg(key) }
    /// `HLEN key`.
    fn hlen(key: impl ToArg) { Cmd::new("HLEN").arg(key) }

    // ---- lists
    /// `LPUSH key value...`.
    fn lpush(key: impl ToArg, values: &[impl ToArg]) { with_all(Cmd::new("LPUSH").arg(key), values) }
    /// `RPUSH key value...`.
    fn rpush(key: impl ToArg, values: &[impl ToArg]) { with_all(Cmd::new("RPUSH").arg(key), values) }
    /// `LPOP key` (one element, or nil).
    fn lpop(key: impl ToArg) -> bulk { Cmd::new("LPOP").arg(key) }
    /// `LPOP key count`.
    fn lpop_count(key: impl ToArg, count: usize) { Cmd::new("LPOP").arg(key).arg(count) }
    /// `RPOP key`.
    fn rpop(key: impl ToArg) -> bulk { Cmd::new("RPOP").arg(key) }
    /// `RPOP key count`.
    fn rpop_count(key: impl ToArg, count: usize) { Cmd::new("RPOP").arg(key).arg(count) }
    /// `LRANGE key start stop`.
    fn lrange(key: impl ToArg, start: i64, stop: i64) {
        Cmd::new("LRANGE").arg(key).arg(start).arg(stop)
    }
    /// `LLEN key`.
    fn llen(key: impl ToArg) { Cmd::new("LLEN").arg(key) }
    /// `LINDEX key index`.
    fn lindex(key: impl ToArg, index: i64) -> bulk { Cmd::new("LINDEX").arg(key).arg(index) }
    /// `LSET key index value`.
    fn lset(key: impl ToArg, index: i64, value: impl ToArg) {
        Cmd::new("LSET").arg(key).arg(index).arg(value)
    }
    /// `LREM key count value`.
    fn lrem(key: impl ToArg, count: i64, value: impl ToArg) {
        Cmd::new("LREM").arg(key).arg(count).arg(value)
    }
    /// `LTRIM key start stop`.
    fn ltrim(key: impl ToArg, start: i64, stop: i64) {
        Cmd::new("LTRIM").arg(key).arg(start).arg(stop)
    }

    // ---- sets
    /// `SADD key member...`.
    fn sadd(key: impl ToArg, members: &[impl ToArg]) { with_all(Cmd::new("SADD").arg(key), members) }
    /// `SREM key member...`.
    fn srem(key: impl ToArg, members: &[impl ToArg]) { with_all(Cmd::new("SREM").arg(key), members) }
    /// `SMEMBERS key`.
    fn smembers(key: impl ToArg) { Cmd::new("SMEMBERS").arg(key) }
    /// `SISMEMBER key member`.
    fn sismember(key: impl ToArg, member: impl ToArg) { Cmd::new("SISMEMBER").arg(key).arg(member) }
    /// `SCARD key`.
    fn scard(key: impl ToArg) { Cmd::new("SCARD").arg(key) }
    /// `SPOP key`.
    fn spop(key: impl ToArg) -> bulk { Cmd::new("SPOP").arg(key) }
    /// `SRANDMEMBER key`.
    fn srandmember(key: impl ToArg) -> bulk { Cmd::new("SRANDMEMBER").arg(key) }
    /// `SINTER key...`.
    fn sinter(keys: &[impl ToArg]) { with_all(Cmd::new("SINTER"), keys) }
    /// `SUNION key...`.
    fn sunion(keys: &[impl ToArg]) { with_all(Cmd::new("SUNION"), keys) }
    /// `SDIFF key...`.
    fn sdiff(keys: &[impl ToArg]) { with_all(Cmd::new("SDIFF"), keys) }

    // ---- sorted sets
    /// `ZADD key score member`.
    fn zadd(key: impl ToArg, score: f64, member: impl ToArg) {
        Cmd::new("ZADD").arg(key).arg(score).arg(member)
    }
    /// `ZADD key score member ...`.
    fn zadd_multiple(key: impl ToArg, items: &[(f64, impl ToArg)]) {
        with_pairs(Cmd::new("ZADD").arg(key), items)
    }
    /// `ZREM key member...`.
    fn zrem(key: impl ToArg, members: &[impl ToArg]) { with_all(Cmd::new("ZREM").arg(key), members) }
    /// `ZSCORE key member`.
    fn zscore(key: impl ToArg, member: impl ToArg) { Cmd::new("ZSCORE").arg(key).arg(member) }
    /// `ZINCRBY key delta member`.
    fn zincr_by(key: impl ToArg, delta: f64, member: impl ToArg) {
        Cmd::new("ZINCRBY").arg(key).arg(delta).arg(member)
    }
    /// `ZRANK key member`.
    fn zrank(key: impl ToArg, member: impl ToArg) { Cmd::new("ZRANK").arg(key).arg(member) }
    /// `ZCARD key`.
    fn zcard(key: impl ToArg) { Cmd::new("ZCARD").arg(key) }
    /// `ZCOUNT key min max`.
    fn zcount(key: impl ToArg, min: f64, max: f64) { Cmd::new("ZCOUNT").arg(key).arg(min).arg(max) }
    /// `ZRANGE key start stop`.
    fn zrange(key: impl ToArg, start: i64, stop: i64) {
        Cmd::new("ZRANGE").arg(key).arg(start).arg(stop)
    }
    /// `ZRANGE key start stop WITHSCORES` (into `Vec<(String, f64)>`).
    fn zrange_withscores(key: impl ToArg, start: i64, stop: i64) {
        Cmd::new("ZRANGE").arg(key).arg(start).arg(stop).arg("WITHSCORES")
    }
    /// `ZRANGE key min max BYSCORE`.
    fn zrange_by_score(key: impl ToArg, min: f64, max: f64) {
        Cmd::new("ZRANGE").arg(key).arg(min).arg(max).arg("BYSCORE")
    }
    /// `ZREVRANGE key start stop`.
    fn zrevrange(key: impl ToArg, start: i64, stop: i64) {
        Cmd::new("ZREVRANGE").arg(key).arg(start).arg(stop)
    }

    // ---- scripting and pub/sub
    /// `EVAL script numkeys key... arg...`.
    fn eval(script: &str, keys: &[impl ToArg], args: &[impl ToArg]) {
        with_all(with_all(Cmd::new("EVAL").arg(script).arg(keys.len()), keys), args)
    }
    /// `EVALSHA sha numkeys key... arg...`.
    fn evalsha(sha: &str, keys: &[impl ToArg], args: &[impl ToArg]) {
        with_all(with_all(Cmd::new("EVALSHA").arg(sha).arg(keys.len()), keys), args)
    }
    /// `SCRIPT LOAD script` (the SHA1). [`Script`](crate::Script) does this for you.
    fn script_load(script: &str) { Cmd::new("SCRIPT").arg("LOAD").arg(script) }
    /// `SCRIPT EXISTS sha...` (one `bool` per SHA1).
    fn script_exists(shas: &[impl ToArg]) { with_all(Cmd::new("SCRIPT").arg("EXISTS"), shas) }
    /// `SCRIPT FLUSH`: empties the server's script cache.
    fn script_flush() { Cmd::new("SCRIPT").arg("FLUSH") }
    /// `FUNCTION LOAD code` (Redis 7+): loads a library (its code starts with
    /// `#!lua name=<library>`); the reply is the library's name. Fails with the server's
    /// error when the library exists: see [`function_load_replace`](Self::function_load_replace).
    fn function_load(code: &str) { Cmd::new("FUNCTION").arg("LOAD").arg(code) }
    /// `FUNCTION LOAD REPLACE code`: loads a library, replacing one of the same name.
    fn function_load_replace(code: &str) {
        Cmd::new("FUNCTION").arg("LOAD").arg("REPLACE").arg(code)
    }
    /// `FUNCTION DELETE library`.
    fn function_delete(library: impl ToArg) { Cmd::new("FUNCTION").arg("DELETE").arg(library) }
    /// `FUNCTION FLUSH`: deletes every library.
    fn function_flush() { Cmd::new("FUNCTION").arg("FLUSH") }
    /// `FCALL function numkeys key... arg...` (Redis 7+): calls a loaded function.
    fn fcall(function: impl ToArg, keys: &[impl ToArg], args: &[impl ToArg]) {
        with_all(with_all(Cmd::new("FCALL").arg(function).arg(keys.len()), keys), args)
    }
    /// `FCALL_RO function numkeys key... arg...`: calls a function declared `no-writes`
    /// (allowed on replicas).
    fn fcall_ro(function: impl ToArg, keys: &[impl ToArg], args: &[impl ToArg]) {
        with_all(with_all(Cmd::new("FCALL_RO").arg(function).arg(keys.len()), keys), args)
    }
    /// `PUBLISH channel message` (how many subscribers received it).
    fn publish(channel: impl ToArg, message: impl ToArg) {
        Cmd::new("PUBLISH").arg(channel).arg(message)
    }

    // ---- server
    /// `PING`.
    fn ping() { Cmd::new("PING") }
    /// `ECHO message`.
    fn echo(message: impl ToArg) { Cmd::new("ECHO").arg(message) }
    /// `DBSIZE`.
    fn dbsize() { Cmd::new("DBSIZE") }
    /// `FLUSHDB`.
    fn flushdb() { Cmd::new("FLUSHDB") }
    /// `INFO [section]` (`""` for the default sections).
    fn info(section: &str) {
        if section.is_empty() { Cmd::new("INFO") } else { Cmd::new("INFO").arg(section) }
    }
}
