//! The counters a driver keeps per client per worker: plain cells, bumped on the worker,
//! read on demand (no atomics, no lock on the hot path).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use super::outcome::Outcome;
use super::stats::WorkerStats;
use crate::roundtrip::{Codec, Pipe, PipeCounters};

/// One client's counters on one worker. Not `Sync`: bumped and read on its worker.
///
/// With the `metrics` feature, counters made by [`labelled`](Self::labelled) also publish
/// through the `metrics` facade (see the `client::metrics` module, feature `metrics`, for the names).
#[derive(Default)]
pub struct Counters {
    started: Cell<u64>,
    ok: Cell<u64>,
    server_errors: Cell<u64>,
    timeouts: Cell<u64>,
    cancelled: Cell<u64>,
    connection_errors: Cell<u64>,
    protocol_errors: Cell<u64>,
    other_errors: Cell<u64>,
    connects: Cell<u64>,
    connect_failures: Cell<u64>,
    last_error: RefCell<Option<(String, Instant)>>,
    pipes: PipeCounters,
    /// `db.system.name` and worker, for events (empty for unlabelled counters).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    labels: Option<(&'static str, usize)>,
    #[cfg(feature = "metrics")]
    sink: Option<super::metrics::Sink>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("stats", &self.snapshot(None))
            .finish()
    }
}

fn bump(cell: &Cell<u64>) {
    cell.set(cell.get().wrapping_add(1));
}

impl Counters {
    /// Counters of a client of `system` (`"redis"`, `"postgresql"`: the OpenTelemetry
    /// `db.system.name`) on worker `worker`. With the `metrics` feature they register their
    /// metrics under those labels; without it, this is `Counters::default()`.
    pub fn labelled(system: &'static str, worker: usize) -> Self {
        Counters {
            labels: Some((system, worker)),
            #[cfg(feature = "metrics")]
            sink: Some(super::metrics::Sink::new(system, worker)),
            ..Counters::default()
        }
    }

    /// A call began (it counts as in flight until [`finish`](Self::finish)).
    pub fn start(&self) {
        bump(&self.started);
    }

    /// A call that [`start`](Self::start)ed ended with `outcome`.
    pub fn finish(&self, outcome: Outcome) {
        self.finish_after(outcome, None);
    }

    fn finish_after(&self, outcome: Outcome, _took: Option<std::time::Duration>) {
        #[cfg(feature = "tracing")]
        super::events::call_ended(self.labels, outcome);
        #[cfg(feature = "metrics")]
        if let Some(sink) = &self.sink {
            sink.call(outcome, _took);
        }
        bump(match outcome {
            Outcome::Ok => &self.ok,
            Outcome::ServerError => &self.server_errors,
            Outcome::Timeout => &self.timeouts,
            Outcome::Cancelled => &self.cancelled,
            Outcome::Connection => &self.connection_errors,
            Outcome::Protocol => &self.protocol_errors,
            Outcome::Other => &self.other_errors,
        });
    }

    /// A call that [`start`](Self::start)ed failed with `error`, classified as `outcome`.
    /// Errors that say something about the connection are kept as the last error (for
    /// `health()`); the text must hold no secret (driver errors never do).
    pub fn fail(&self, outcome: Outcome, error: &dyn std::fmt::Display) {
        self.fail_after(outcome, None, error);
    }

    fn fail_after(
        &self,
        outcome: Outcome,
        took: Option<std::time::Duration>,
        error: &dyn std::fmt::Display,
    ) {
        self.finish_after(outcome, took);
        if outcome.is_health_relevant() {
            self.note_error(error);
        }
    }

    /// A pipeline of `size` requests was sent (the `corelane_pipeline_size` histogram; not
    /// kept in the snapshot).
    pub fn batch(&self, size: usize) {
        #[cfg(feature = "metrics")]
        if let Some(sink) = &self.sink {
            sink.batch(size);
        }
        let _ = size;
    }

    /// Publishes `stats` (this worker's snapshot, connection counts included) as the
    /// `metrics` gauges and round-trip totals. Does nothing without the `metrics` feature.
    pub fn publish(&self, stats: &WorkerStats) {
        #[cfg(feature = "metrics")]
        if let Some(sink) = &self.sink {
            sink.publish(stats);
        }
        let _ = stats;
    }

    /// A connection of this client was opened on this worker: from now on its round trips
    /// count into these counters ([`Pipe::count_into`]), and it counts as a connect.
    pub fn opened<C: Codec>(&self, pipe: &mut Pipe<C>) {
        pipe.count_into(&self.pipes);
        self.connected();
    }

    /// A connection was opened.
    pub fn connected(&self) {
        #[cfg(feature = "tracing")]
        super::events::connected(self.labels, self.connects.get());
        #[cfg(feature = "metrics")]
        if let Some(sink) = &self.sink {
            sink.connected();
        }
        bump(&self.connects);
    }

    /// Opening a connection failed with `error`.
    pub fn connect_failed(&self, error: &dyn std::fmt::Display) {
        #[cfg(feature = "tracing")]
        super::events::connect_failed(self.labels, error);
        #[cfg(feature = "metrics")]
        if let Some(sink) = &self.sink {
            sink.connect_failed();
        }
        bump(&self.connect_failures);
        self.note_error(error);
    }

    fn note_error(&self, error: &dyn std::fmt::Display) {
        *self.last_error.borrow_mut() = Some((error.to_string(), Instant::now()));
    }

    /// The counters every connection of this client on this worker adds its round trips to
    /// (see [`Pipe::count_into`](crate::roundtrip::Pipe::count_into)).
    pub fn pipes(&self) -> &PipeCounters {
        &self.pipes
    }

    /// The counters now, for worker `worker` (connection counts left at zero: the driver
    /// fills them from its pools).
    pub fn snapshot(&self, worker: Option<usize>) -> WorkerStats {
        let ended = [
            &self.ok,
            &self.server_errors,
            &self.timeouts,
            &self.cancelled,
            &self.connection_errors,
            &self.protocol_errors,
            &self.other_errors,
        ]
        .iter()
        .fold(0u64, |sum, c| sum.wrapping_add(c.get()));
        WorkerStats {
            worker,
            calls: ended,
            in_flight: self.started.get().saturating_sub(ended),
            ok: self.ok.get(),
            server_errors: self.server_errors.get(),
            timeouts: self.timeouts.get(),
            cancelled: self.cancelled.get(),
            connection_errors: self.connection_errors.get(),
            protocol_errors: self.protocol_errors.get(),
            other_errors: self.other_errors.get(),
            connects: self.connects.get(),
            connect_failures: self.connect_failures.get(),
            round_trips: self.pipes.snapshot(),
            connections: Default::default(),
        }
    }

    /// Starts counting a call: it is in flight until the returned guard ends it, and counted
    /// as cancelled if the guard is dropped first (the call's future was dropped).
    pub fn begin(self: &Rc<Self>) -> InFlight {
        self.start();
        InFlight {
            counters: Some(self.clone()),
            #[cfg(feature = "metrics")]
            started: self.sink.as_ref().map(|_| Instant::now()),
        }
    }

    /// The last connection-level error and when it happened.
    pub fn last_error(&self) -> Option<(String, Instant)> {
        self.last_error.borrow().clone()
    }
}

/// A call in flight (see [`Counters::begin`]): ends it with its outcome, or as cancelled when
/// dropped unended.
#[derive(Debug)]
#[must_use = "dropping the guard counts the call as cancelled"]
pub struct InFlight {
    counters: Option<Rc<Counters>>,
    /// When it began, for the latency histogram (only when metrics are published).
    #[cfg(feature = "metrics")]
    started: Option<Instant>,
}

impl InFlight {
    fn took(&self) -> Option<std::time::Duration> {
        #[cfg(feature = "metrics")]
        {
            self.started.map(|at| at.elapsed())
        }
        #[cfg(not(feature = "metrics"))]
        {
            None
        }
    }

    /// The call ended with `outcome`.
    pub fn end(mut self, outcome: Outcome) {
        let took = self.took();
        if let Some(counters) = self.counters.take() {
            counters.finish_after(outcome, took);
        }
    }

    /// The call failed with `error` (see [`Counters::fail`]).
    pub fn fail(mut self, outcome: Outcome, error: &dyn std::fmt::Display) {
        let took = self.took();
        if let Some(counters) = self.counters.take() {
            counters.fail_after(outcome, took, error);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // After `end` or `fail` there is nothing left to count: no clock read on that path.
        if let Some(counters) = self.counters.take() {
            counters.finish_after(Outcome::Cancelled, self.took());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_lands_in_its_own_counter_and_in_flight_is_started_minus_ended() {
        let c = Counters::default();
        for _ in 0..9 {
            c.start();
        }
        c.finish(Outcome::Ok);
        c.finish(Outcome::Ok);
        c.finish(Outcome::ServerError);
        c.fail(Outcome::Timeout, &"timed out after 5ms");
        c.finish(Outcome::Cancelled);
        c.fail(Outcome::Connection, &"connection reset");
        c.finish(Outcome::Protocol);
        c.finish(Outcome::Other);
        let s = c.snapshot(Some(3));
        assert_eq!(s.worker, Some(3));
        assert_eq!(s.calls, 8);
        assert_eq!(s.in_flight, 1);
        assert_eq!(
            (
                s.ok,
                s.server_errors,
                s.timeouts,
                s.cancelled,
                s.connection_errors,
                s.protocol_errors,
                s.other_errors
            ),
            (2, 1, 1, 1, 1, 1, 1)
        );
        assert_eq!(
            c.last_error().map(|e| e.0).as_deref(),
            Some("connection reset")
        );
    }

    #[test]
    fn application_errors_are_not_kept_as_the_last_error_but_connect_failures_are() {
        let c = Counters::default();
        c.start();
        c.fail(Outcome::ServerError, &"WRONGTYPE");
        assert!(c.last_error().is_none());
        c.connect_failed(&"connection refused");
        c.connected();
        let s = c.snapshot(None);
        assert_eq!((s.connects, s.connect_failures), (1, 1));
        assert_eq!(
            c.last_error().map(|e| e.0).as_deref(),
            Some("connection refused")
        );
    }

    #[test]
    fn a_guard_dropped_unended_counts_as_cancelled_and_an_ended_one_once() {
        let c = Rc::new(Counters::default());
        let dropped = c.begin();
        let ended = c.begin();
        assert_eq!(c.snapshot(None).in_flight, 2);
        drop(dropped);
        ended.fail(Outcome::Timeout, &"timed out");
        let s = c.snapshot(None);
        assert_eq!(
            (s.calls, s.in_flight, s.cancelled, s.timeouts),
            (2, 0, 1, 1)
        );
    }
}
