//! corelane patch 11 test hook: [`probe_latency_timestamps`], behind
//! `crate::corelane_latency_timestamps_probe`.

use std::io;
use std::time::{Duration, Instant};

use super::BlockingThreadPool;
use super::{queue_request_into_ring, Reactor, UringOpDescriptor};
use crate::sys::source::StatsCollection;
use crate::sys::{self, Source, SourceType, TimeSpec64};
use crate::{IoRequirements, PoolPlacement};

/// What [`crate::corelane_latency_timestamps_probe`] saw.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampProbe {
    /// Sources that collect no latencies (one with no stats, one with completion counts
    /// only) that completed: 2.
    pub untimed: usize,
    /// Of their queued / submitted / fulfilled times, how many were set (read from the clock).
    pub untimed_stamps: usize,
    /// Of the latency-collecting source's three times, how many were set.
    pub timed_stamps: usize,
    /// Those three were in order (queued ≤ submitted ≤ fulfilled) and inside the probe's run.
    pub timed_in_order: bool,
}

/// Runs three 5 ms timeouts on a reactor of its own — one without stats, one with completion
/// counts only, one that collects latencies (as file I/O does) — and reports which of them
/// had their times read from the clock.
pub(crate) fn probe_latency_timestamps() -> io::Result<TimestampProbe> {
    let notifier = sys::new_sleep_notifier()?;
    let pool = BlockingThreadPool::new(PoolPlacement::Unbound(1), notifier.clone())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let reactor = Reactor::new(notifier, 0, 128, pool)?;
    let with_latency = StatsCollection {
        fulfilled: None,
        reused: None,
        latency: Some(|_, _, _, _| {}),
    };
    let counts_only = StatsCollection {
        fulfilled: Some(|_, _, _| {}),
        reused: None,
        latency: None,
    };
    let before = Instant::now();
    let mut sources = Vec::with_capacity(3);
    for stats in [None, Some(counts_only), Some(with_latency)] {
        let timeout = TimeSpec64::try_from(Duration::from_millis(5))
            .map_err(|_| io::Error::other("timespec"))?;
        let source = Source::new(
            IoRequirements::default(),
            -1,
            SourceType::Timeout(timeout, 0),
            stats,
            None,
        );
        let op = match &*source.source_type() {
            SourceType::Timeout(ts, events) => {
                UringOpDescriptor::Timeout(&ts.raw as *const _, *events)
            }
            _ => return Err(io::Error::other("not a timeout source")),
        };
        queue_request_into_ring(
            &mut *reactor.ring_for_source(&source),
            &source,
            op,
            &mut reactor.source_map.borrow_mut(),
        );
        sources.push(source);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while sources
        .iter()
        .any(|s| s.inner.borrow().wakers.result.is_none())
    {
        if Instant::now() > deadline {
            return Err(io::Error::other("the timeouts never completed"));
        }
        reactor.wait(|| None, None, 0, || 0)?;
    }
    let after = Instant::now();
    let stamps = |source: &Source| {
        let inner = source.inner.borrow();
        let w = &inner.wakers;
        (w.queued_at, w.submitted_at, w.fulfilled_at)
    };
    let count = |(q, s, f): (Option<Instant>, Option<Instant>, Option<Instant>)| {
        usize::from(q.is_some()) + usize::from(s.is_some()) + usize::from(f.is_some())
    };
    let untimed_stamps = sources[..2].iter().map(|s| count(stamps(s))).sum();
    let timed = stamps(&sources[2]);
    let timed_in_order = match timed {
        (Some(q), Some(s), Some(f)) => before <= q && q <= s && s <= f && f <= after,
        _ => false,
    };
    Ok(TimestampProbe {
        untimed: 2,
        untimed_stamps,
        timed_stamps: count(timed),
        timed_in_order,
    })
}
