//! Streams: the typed `X…` commands, their options, and their replies as small structs.
//!
//! The commands are defined once (see commands.rs) for [`Client`](crate::Client),
//! [`Exclusive`](crate::Exclusive), [`Pipeline`](crate::Pipeline) and the cluster twins; the
//! blocking reads (`XREAD … BLOCK`, `XREADGROUP … BLOCK`) are separate (blocking.rs here): they
//! run on a connection of their own and never in a pipeline.

mod blocking;
mod info;
mod reply;

use std::time::Duration;

use corelane_redis_proto::{Cmd, ToArg};

use crate::commands::{commands, with_all, with_pairs};

pub use info::{StreamConsumerInfo, StreamGroupInfo, StreamInfo};
pub use reply::{
    StreamAutoClaimReply, StreamId, StreamKey, StreamPendingEntry, StreamPendingReply,
    StreamReadReply,
};

/// How `XADD` / `XTRIM` trim a stream: by length (`MAXLEN`) or by lowest id (`MINID`),
/// exactly (the default) or approximately (`~`, cheaper: whole radix-tree nodes are dropped),
/// with an optional `LIMIT` on the entries removed per call (approximate trimming only).
///
/// ```
/// use corelane_redis::StreamTrim;
///
/// let exact = StreamTrim::maxlen(1000); // MAXLEN 1000
/// let cheap = StreamTrim::maxlen(1000).approx().limit(100); // MAXLEN ~ 1000 LIMIT 100
/// let by_id = StreamTrim::minid("1700000000000-0"); // MINID 1700000000000-0
/// # let _ = (exact, cheap, by_id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTrim {
    threshold: Threshold,
    approx: bool,
    limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Threshold {
    MaxLen(u64),
    MinId(String),
}

impl StreamTrim {
    /// Keep at most `len` entries (`MAXLEN len`).
    pub fn maxlen(len: u64) -> Self {
        StreamTrim {
            threshold: Threshold::MaxLen(len),
            approx: false,
            limit: None,
        }
    }

    /// Drop the entries whose id is lower than `id` (`MINID id`; Redis 6.2+).
    pub fn minid(id: impl Into<String>) -> Self {
        StreamTrim {
            threshold: Threshold::MinId(id.into()),
            approx: false,
            limit: None,
        }
    }

    /// Trim approximately (`~`): the stream may keep a few more entries than asked.
    pub fn approx(mut self) -> Self {
        self.approx = true;
        self
    }

    /// Remove at most `count` entries per call (`LIMIT count`; the server refuses it
    /// without [`approx`](Self::approx)).
    pub fn limit(mut self, count: u64) -> Self {
        self.limit = Some(count);
        self
    }

    fn apply(&self, mut cmd: Cmd) -> Cmd {
        cmd = match &self.threshold {
            Threshold::MaxLen(_) => cmd.arg("MAXLEN"),
            Threshold::MinId(_) => cmd.arg("MINID"),
        };
        // Exact is the server's default: no `=` (which Redis before 6.2 does not accept).
        if self.approx {
            cmd = cmd.arg("~");
        }
        cmd = match &self.threshold {
            Threshold::MaxLen(len) => cmd.arg(*len),
            Threshold::MinId(id) => cmd.arg(id.as_str()),
        };
        if let Some(limit) = self.limit {
            cmd = cmd.arg("LIMIT").arg(limit);
        }
        cmd
    }
}

/// Options of `XADD`: `NOMKSTREAM` and trimming.
///
/// ```
/// use corelane_redis::{StreamAddOptions, StreamTrim};
///
/// let options = StreamAddOptions::default().trim(StreamTrim::maxlen(10_000).approx());
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamAddOptions {
    /// Do not create the stream when it does not exist (`NOMKSTREAM`): the reply is then nil.
    pub nomkstream: bool,
    /// Trim the stream in the same command.
    pub trim: Option<StreamTrim>,
}

impl StreamAddOptions {
    /// Do not create a missing stream (`NOMKSTREAM`; read the reply as `Option<String>`).
    pub fn nomkstream(mut self) -> Self {
        self.nomkstream = true;
        self
    }

    /// Trim the stream (`MAXLEN` / `MINID`).
    pub fn trim(mut self, trim: StreamTrim) -> Self {
        self.trim = Some(trim);
        self
    }

    fn apply(&self, mut cmd: Cmd) -> Cmd {
        if self.nomkstream {
            cmd = cmd.arg("NOMKSTREAM");
        }
        if let Some(trim) = &self.trim {
            cmd = trim.apply(cmd);
        }
        cmd
    }
}

/// Options of `XREAD` and `XREADGROUP`: `COUNT`, and for group reads `NOACK`. Blocking is not
/// an option here: it has its own methods ([`Client::xread_block`](crate::Client::xread_block),
/// [`Client::xreadgroup_block`](crate::Client::xreadgroup_block)), which run on a connection
/// of their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamReadOptions {
    /// At most this many entries per stream (`COUNT`).
    pub count: Option<usize>,
    /// Group reads only: do not add the entries to the pending list (`NOACK`). Plain
    /// `XREAD` has no such option and does not send it.
    pub noack: bool,
}

impl StreamReadOptions {
    /// At most `count` entries per stream.
    pub fn count(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }

    /// Group reads: no pending-list entry (`NOACK`).
    pub fn noack(mut self) -> Self {
        self.noack = true;
        self
    }
}

/// `BLOCK` takes whole milliseconds, and `BLOCK 0` means "forever": a non-zero timeout below
/// one millisecond must round up, not down to forever.
fn block_ms(timeout: Duration) -> u64 {
    let ms = timeout.as_millis();
    let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// `XREAD [COUNT n] [BLOCK ms] STREAMS key... id...`.
pub(crate) fn xread_cmd(
    keys: &[impl ToArg],
    ids: &[impl ToArg],
    options: StreamReadOptions,
    block: Option<Duration>,
) -> Cmd {
    let mut cmd = Cmd::new("XREAD");
    if let Some(count) = options.count {
        cmd = cmd.arg("COUNT").arg(count);
    }
    if let Some(timeout) = block {
        cmd = cmd.arg("BLOCK").arg(block_ms(timeout));
    }
    with_all(with_all(cmd.arg("STREAMS"), keys), ids)
}

/// `XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...`.
pub(crate) fn xreadgroup_cmd(
    group: impl ToArg,
    consumer: impl ToArg,
    keys: &[impl ToArg],
    ids: &[impl ToArg],
    options: StreamReadOptions,
    block: Option<Duration>,
) -> Cmd {
    let mut cmd = Cmd::new("XREADGROUP").arg("GROUP").arg(group).arg(consumer);
    if let Some(count) = options.count {
        cmd = cmd.arg("COUNT").arg(count);
    }
    if let Some(timeout) = block {
        cmd = cmd.arg("BLOCK").arg(block_ms(timeout));
    }
    if options.noack {
        cmd = cmd.arg("NOACK");
    }
    with_all(with_all(cmd.arg("STREAMS"), keys), ids)
}

commands! {
    /// `XADD key id field value...`: `id` is usually `"*"` (the server picks the next id);
    /// the reply is the entry's id.
    fn xadd(key: impl ToArg, id: impl ToArg, fields: &[(impl ToArg, impl ToArg)]) {
        with_pairs(Cmd::new("XADD").arg(key).arg(id), fields)
    }
    /// `XADD key [NOMKSTREAM] [MAXLEN|MINID [~] threshold [LIMIT n]] id field value...`.
    fn xadd_options(
        key: impl ToArg,
        id: impl ToArg,
        fields: &[(impl ToArg, impl ToArg)],
        options: StreamAddOptions
    ) {
        with_pairs(options.apply(Cmd::new("XADD").arg(key)).arg(id), fields)
    }
    /// `XLEN key`.
    fn xlen(key: impl ToArg) { Cmd::new("XLEN").arg(key) }
    /// `XRANGE key start end` (`"-"` and `"+"` for the ends; read it as `Vec<StreamId>`).
    fn xrange(key: impl ToArg, start: impl ToArg, end: impl ToArg) {
        Cmd::new("XRANGE").arg(key).arg(start).arg(end)
    }
    /// `XRANGE key start end COUNT count`.
    fn xrange_count(key: impl ToArg, start: impl ToArg, end: impl ToArg, count: usize) {
        Cmd::new("XRANGE").arg(key).arg(start).arg(end).arg("COUNT").arg(count)
    }
    /// `XREVRANGE key end start` (newest first).
    fn xrevrange(key: impl ToArg, end: impl ToArg, start: impl ToArg) {
        Cmd::new("XREVRANGE").arg(key).arg(end).arg(start)
    }
    /// `XREVRANGE key end start COUNT count`.
    fn xrevrange_count(key: impl ToArg, end: impl ToArg, start: impl ToArg, count: usize) {
        Cmd::new("XREVRANGE").arg(key).arg(end).arg(start).arg("COUNT").arg(count)
    }
    /// `XREAD STREAMS key... id...` (no blocking): the entries after each id, as a
    /// [`StreamReadReply`] (empty when there are none). One id per key.
    fn xread(keys: &[impl ToArg], ids: &[impl ToArg]) {
        xread_cmd(keys, ids, StreamReadOptions::default(), None)
    }
    /// `XREAD [COUNT n] STREAMS key... id...` (no blocking: see `xread_block`).
    fn xread_options(keys: &[impl ToArg], ids: &[impl ToArg], options: StreamReadOptions) {
        xread_cmd(keys, ids, options, None)
    }
    /// `XREADGROUP GROUP group consumer [COUNT n] [NOACK] STREAMS key... id...` (no
    /// blocking: see `xreadgroup_block`). `">"` reads new entries; `"0"` re-reads this
    /// consumer's pending ones. Read it as a [`StreamReadReply`].
    fn xreadgroup(
        group: impl ToArg,
        consumer: impl ToArg,
        keys: &[impl ToArg],
        ids: &[impl ToArg],
        options: StreamReadOptions
    ) {
        xreadgroup_cmd(group, consumer, keys, ids, options, None)
    }
    /// `XGROUP CREATE key group id` (`"$"`: only entries added from now on; `"0"`: all).
    fn xgroup_create(key: impl ToArg, group: impl ToArg, id: impl ToArg) {
        Cmd::new("XGROUP").arg("CREATE").arg(key).arg(group).arg(id)
    }
    /// `XGROUP CREATE key group id MKSTREAM`: creates the stream too when missing.
    fn xgroup_create_mkstream(key: impl ToArg, group: impl ToArg, id: impl ToArg) {
        Cmd::new("XGROUP").arg("CREATE").arg(key).arg(group).arg(id).arg("MKSTREAM")
    }
    /// `XGROUP DESTROY key group` (true when it existed).
    fn xgroup_destroy(key: impl ToArg, group: impl ToArg) {
        Cmd::new("XGROUP").arg("DESTROY").arg(key).arg(group)
    }
    /// `XGROUP SETID key group id`.
    fn xgroup_setid(key: impl ToArg, group: impl ToArg, id: impl ToArg) {
        Cmd::new("XGROUP").arg("SETID").arg(key).arg(group).arg(id)
    }
    /// `XGROUP DELCONSUMER key group consumer` (how many pending entries it had).
    fn xgroup_delconsumer(key: impl ToArg, group: impl ToArg, consumer: impl ToArg) {
        Cmd::new("XGROUP").arg("DELCONSUMER").arg(key).arg(group).arg(consumer)
    }
    /// `XACK key group id...` (how many were acknowledged).
    fn xack(key: impl ToArg, group: impl ToArg, ids: &[impl ToArg]) {
        with_all(Cmd::new("XACK").arg(key).arg(group), ids)
    }
    /// `XPENDING key group`: the summary, as a [`StreamPendingReply`].
    fn xpending(key: impl ToArg, group: impl ToArg) {
        Cmd::new("XPENDING").arg(key).arg(group)
    }
    /// `XPENDING key group start end count`: the pending entries, as
    /// `Vec<StreamPendingEntry>`.
    fn xpending_range(
        key: impl ToArg,
        group: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
        count: usize
    ) {
        Cmd::new("XPENDING").arg(key).arg(group).arg(start).arg(end).arg(count)
    }
    /// `XPENDING key group start end count consumer`: one consumer's pending entries.
    fn xpending_consumer(
        key: impl ToArg,
        group: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
        count: usize,
        consumer: impl ToArg
    ) {
        Cmd::new("XPENDING").arg(key).arg(group).arg(start).arg(end).arg(count).arg(consumer)
    }
    /// `XCLAIM key group consumer min-idle-ms id...`: the claimed entries, as
    /// `Vec<StreamId>`.
    fn xclaim(
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_ms: u64,
        ids: &[impl ToArg]
    ) {
        with_all(Cmd::new("XCLAIM").arg(key).arg(group).arg(consumer).arg(min_idle_ms), ids)
    }
    /// `XCLAIM key group consumer min-idle-ms id... JUSTID`: the claimed ids only
    /// (`Vec<String>`; their delivery count is not incremented).
    fn xclaim_justid(
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_ms: u64,
        ids: &[impl ToArg]
    ) {
        with_all(Cmd::new("XCLAIM").arg(key).arg(group).arg(consumer).arg(min_idle_ms), ids)
            .arg("JUSTID")
    }
    /// `XAUTOCLAIM key group consumer min-idle-ms start COUNT count` (Redis 6.2+): claims
    /// pending entries idle that long, as a [`StreamAutoClaimReply`].
    fn xautoclaim(
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle_ms: u64,
        start: impl ToArg,
        count: usize
    ) {
        Cmd::new("XAUTOCLAIM")
            .arg(key)
            .arg(group)
            .arg(consumer)
            .arg(min_idle_ms)
            .arg(start)
            .arg("COUNT")
            .arg(count)
    }
    /// `XTRIM key MAXLEN|MINID [~] threshold [LIMIT n]` (how many entries were removed).
    fn xtrim(key: impl ToArg, trim: StreamTrim) { trim.apply(Cmd::new("XTRIM").arg(key)) }
    /// `XDEL key id...` (how many were deleted).
    fn xdel(key: impl ToArg, ids: &[impl ToArg]) { with_all(Cmd::new("XDEL").arg(key), ids) }
    /// `XINFO STREAM key`, as a [`StreamInfo`].
    fn xinfo_stream(key: impl ToArg) { Cmd::new("XINFO").arg("STREAM").arg(key) }
    /// `XINFO GROUPS key`, as `Vec<StreamGroupInfo>`.
    fn xinfo_groups(key: impl ToArg) { Cmd::new("XINFO").arg("GROUPS").arg(key) }
    /// `XINFO CONSUMERS key group`, as `Vec<StreamConsumerInfo>`.
    fn xinfo_consumers(key: impl ToArg, group: impl ToArg) {
        Cmd::new("XINFO").arg("CONSUMERS").arg(key).arg(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.iter_args()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn trim_and_read_options_are_written_in_the_servers_order() {
        let cmd = StreamAddOptions::default()
            .nomkstream()
            .trim(StreamTrim::maxlen(10).approx().limit(5))
            .apply(Cmd::new("XADD").arg("s"));
        assert_eq!(
            args(&cmd),
            ["XADD", "s", "NOMKSTREAM", "MAXLEN", "~", "10", "LIMIT", "5"]
        );
        let cmd = StreamTrim::minid("5-0").apply(Cmd::new("XTRIM").arg("s"));
        assert_eq!(args(&cmd), ["XTRIM", "s", "MINID", "5-0"]);
        let cmd = xreadgroup_cmd(
            "g",
            "c",
            &["a", "b"],
            &[">", ">"],
            StreamReadOptions::default().count(2).noack(),
            Some(Duration::from_micros(10)),
        );
        assert_eq!(
            args(&cmd),
            [
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "COUNT",
                "2",
                "BLOCK",
                "1",
                "NOACK",
                "STREAMS",
                "a",
                "b",
                ">",
                ">"
            ]
        );
        // NOACK is a group option only.
        let cmd = xread_cmd(
            &["a"],
            &["0"],
            StreamReadOptions::default().noack(),
            Some(Duration::ZERO),
        );
        assert_eq!(args(&cmd), ["XREAD", "BLOCK", "0", "STREAMS", "a", "0"]);
    }

    #[test]
    fn block_rounds_up_and_saturates() {
        assert_eq!(block_ms(Duration::ZERO), 0);
        assert_eq!(block_ms(Duration::from_nanos(1)), 1);
        assert_eq!(block_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(block_ms(Duration::MAX), u64::MAX);
    }
}
