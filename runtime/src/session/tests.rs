//! Unit tests of the generic state: wanted set, queued ops, waiter semantics, the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_lite::future::{block_on, poll_once};

use super::*;
use crate::{CloseCause, WorkerLoop, WriteError};

#[derive(Debug, Clone, PartialEq, Eq)]
enum TestError {
    Closed,
    Ended,
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Sub(&'static str),
    Unsub(&'static str),
    UnsubAll,
}

#[derive(Debug, Clone, Default)]
struct Names(BTreeSet<&'static str>);

impl Wanted for Names {
    type Request = Req;

    fn apply(&mut self, request: Req) -> Option<Req> {
        match request {
            Req::Sub(n) => {
                self.0.insert(n);
            }
            Req::Unsub(n) => {
                self.0.remove(n);
            }
            Req::UnsubAll if self.0.is_empty() => return None,
            Req::UnsubAll => self.0.clear(),
        }
        Some(request)
    }

    fn subscribes(request: &Req) -> bool {
        matches!(request, Req::Sub(_))
    }

    fn resubscribe(&self) -> Vec<Req> {
        self.0.iter().map(|n| Req::Sub(n)).collect()
    }
}

struct Test;

impl Spec for Test {
    type Message = u32;
    type Wanted = Names;
    type Error = TestError;

    fn closed_error(_: CloseCause) -> TestError {
        TestError::Closed
    }

    fn ended_error() -> TestError {
        TestError::Ended
    }
}

fn shared() -> Arc<Shared<Test>> {
    // A worker that never runs: wakes through its mailbox just wait there.
    Arc::new(Shared::new(WorkerLoop::new(0, None), 4))
}

fn wanted(shared: &Shared<Test>) -> Vec<&'static str> {
    shared.with_wanted(|w| w.0.iter().copied().collect())
}

#[test]
fn requests_update_the_wanted_set_and_queue_in_order() {
    let s = shared();
    let mut a = Box::pin(s.request(Req::Sub("a")));
    let _b = s.request(Req::Sub("b"));
    let _a_again = s.request(Req::Sub("a"));
    let _b_gone = s.request(Req::Unsub("b"));
    assert_eq!(wanted(&s), ["a"]);
    // Unchanged sets are still sent: the waiter resolves only on the server's word.
    let ops: Vec<Req> = s.take_ops().into_iter().map(|op| op.request).collect();
    assert_eq!(
        ops,
        [Req::Sub("a"), Req::Sub("b"), Req::Sub("a"), Req::Unsub("b")]
    );
    assert!(s.take_ops().is_empty());
    // Taken ops whose waiters were dropped unanswered: the caller sees the session closed.
    assert_eq!(block_on(&mut a), Err(TestError::Closed));
}

#[test]
fn nothing_to_send_is_done_at_once() {
    let s = shared();
    assert_eq!(block_on(s.request(Req::UnsubAll)), Ok(()));
    assert!(s.take_ops().is_empty());
}

#[test]
fn a_failed_connection_fails_subscribes_but_keeps_them_wanted() {
    let s = shared();
    let sub = s.request(Req::Sub("a"));
    let unsub = s.request(Req::Unsub("z"));
    for op in s.take_ops() {
        op.waiter.connection_failed(&TestError::Down);
    }
    assert_eq!(block_on(sub), Err(TestError::Down));
    assert_eq!(block_on(unsub), Ok(()));
    assert_eq!(wanted(&s), ["a"]);
}

#[test]
fn the_plan_is_the_wanted_set_plus_the_queued_ops() {
    let s = shared();
    let _a = s.request(Req::Sub("a"));
    let _b = s.request(Req::Sub("b"));
    let (plan, ops) = s.resubscribe_plan();
    assert_eq!(plan.resubscribe(), [Req::Sub("a"), Req::Sub("b")]);
    assert_eq!(ops.len(), 2);
    assert!(s.take_ops().is_empty());
}

#[test]
fn end_fails_queued_ops_and_later_requests() {
    let s = shared();
    let queued = s.request(Req::Sub("a"));
    s.end();
    assert_eq!(block_on(queued), Err(TestError::Ended));
    assert_eq!(block_on(s.request(Req::Sub("b"))), Err(TestError::Ended));
    assert!(s.take_ops().is_empty());
    let cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(s.poll_next(&cx), std::task::Poll::Ready(None));
}

#[test]
fn a_closed_session_refuses_requests() {
    let s = shared();
    s.close();
    assert!(s.is_closed());
    assert_eq!(block_on(s.request(Req::Sub("a"))), Err(TestError::Closed));
    assert!(wanted(&s).is_empty());
}

#[test]
fn the_end_guard_ends_the_stream_when_dropped_unrun() {
    let s = shared();
    s.status().set_connected(Some(7));
    let queued = s.request(Req::Sub("a"));
    let guard = EndGuard::new(s.clone());
    let mut queued = Box::pin(queued);
    assert!(block_on(poll_once(&mut queued)).is_none());
    drop(guard);
    assert_eq!(block_on(queued), Err(TestError::Ended));
    assert!(!s.status().is_connected());
    assert_eq!(s.status().connection_id(), None);
}

#[test]
fn status_counts_connections() {
    let s = shared();
    s.status().set_connected(Some(0));
    s.status().set_connected(None);
    s.status().set_connected(Some(42));
    assert_eq!(s.status().connects(), 2);
    assert!(s.status().is_connected());
    assert_eq!(s.status().connection_id(), Some(42));
    s.status().set_error(TestError::Down);
    assert_eq!(s.status().last_error(), Some(TestError::Down));
}

type Rx = crate::oneshot::Receiver<Result<(), TestError>>;

fn pending(name: &'static str) -> (Pending<&'static str, TestError>, Rx) {
    let (waiter, rx) = Waiter::new(true);
    (
        Pending {
            detail: name,
            waiters: vec![waiter],
        },
        rx,
    )
}

#[test]
fn confirmations_entry_before_bytes() {
    let q: Confirmations<&'static str, TestError> = Confirmations::default();
    let (a, rx_a) = pending("a");
    assert!(q.push_then_write(a, || Ok(())).is_none());
    // Written on a closing connection: kept, to be carried.
    let (b, rx_b) = pending("b");
    let closed = WriteError::Closed(CloseCause::Unregistered);
    assert!(q.push_then_write(b, || Err(closed)).is_none());
    // Refused (the server is not reading): given back, the queue as before.
    let (c, rx_c) = pending("c");
    let full = WriteError::QueueFull {
        queued: 1,
        limit: 1,
    };
    let (refused, _) = q.push_then_write(c, || Err(full)).unwrap();
    assert_eq!(refused.detail, "c");
    refused.fail(&TestError::Down);
    assert_eq!(block_on(rx_c).unwrap(), Err(TestError::Down));
    assert_eq!(q.len(), 2);
    assert_eq!(q.with_front(|head| head.map(|p| p.detail)), Some("a"));
    q.pop_front().unwrap().succeed();
    assert_eq!(block_on(rx_a).unwrap(), Ok(()));
    let carried = q.take_waiters();
    assert_eq!(carried.len(), 1);
    assert!(q.is_empty());
    carried.into_iter().for_each(Waiter::succeed);
    assert_eq!(block_on(rx_b).unwrap(), Ok(()));
}
