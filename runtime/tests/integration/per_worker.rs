//! `client::PerWorker`: a client's state made once per worker, closed on every worker when the
//! client drops, and read on every worker by `gather` — with a deadline that holds on and off
//! the loop when a worker is stuck.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelane_runtime::client::{Answer, Counters, Outcome, PerWorker, WorkerState};
use corelane_runtime::{
    resolve, EventLoopProvider, Loop, Placement, Provider, ServerProvider, WorkerLoop,
};

struct Server(Arc<Loop>);

impl ServerProvider for Server {
    fn event_loop(&self) -> Arc<dyn EventLoopProvider> {
        self.0.clone()
    }
}

fn two_workers() -> (Arc<Loop>, Provider) {
    let lp = Arc::new(
        Loop::builder()
            .workers(2)
            .placement(Placement::Unbound)
            .start()
            .unwrap(),
    );
    let provider = resolve(Some(&Server(lp.clone()))).unwrap();
    (lp, provider)
}

/// A state that records where it was made and when it was closed.
struct Probe {
    made_on: usize,
    uses: Cell<u32>,
    closed: Arc<AtomicUsize>,
}

impl WorkerState for Probe {
    fn close(&self) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::block_on(fut)
}

/// Uses `states` on worker `n` (making the state there on first use); returns where the state
/// was made and how often it was used.
fn use_on(
    provider: &Provider,
    states: &Arc<PerWorker<Probe>>,
    closed: &Arc<AtomicUsize>,
    n: usize,
) -> (usize, u32) {
    let states = states.clone();
    let closed = closed.clone();
    block_on(provider.worker(n).unwrap().spawn(move || async move {
        let here = WorkerLoop::current().unwrap().id();
        let state = states
            .local(|| {
                Ok::<_, ()>(Probe {
                    made_on: here,
                    uses: Cell::new(0),
                    closed,
                })
            })
            .unwrap();
        state.uses.set(state.uses.get() + 1);
        (state.made_on, state.uses.get())
    }))
    .unwrap()
}

#[test]
fn state_is_made_once_per_worker_and_closed_on_every_worker_when_dropped() {
    let (lp, provider) = two_workers();
    let closed = Arc::new(AtomicUsize::new(0));
    let states = Arc::new(PerWorker::<Probe>::new(provider.clone()));
    assert_eq!(use_on(&provider, &states, &closed, 0), (0, 1));
    assert_eq!(use_on(&provider, &states, &closed, 0), (0, 2));
    assert_eq!(use_on(&provider, &states, &closed, 1), (1, 1));

    // Another client on the same workers has its own state.
    let other = Arc::new(PerWorker::<Probe>::new(provider.clone()));
    assert_ne!(other.key(), states.key());
    assert_eq!(use_on(&provider, &other, &closed, 1), (1, 1));

    drop(Arc::into_inner(states).unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(closed.load(Ordering::SeqCst), 2, "both workers closed it");
    // The other client's state is untouched.
    assert_eq!(use_on(&provider, &other, &closed, 1), (1, 2));
    drop(other);
    drop(provider);
    drop(lp);
}

#[test]
fn gather_answers_in_worker_order_with_none_where_the_client_was_not_used() {
    let (_lp, provider) = two_workers();
    let closed = Arc::new(AtomicUsize::new(0));
    let states = Arc::new(PerWorker::<Probe>::new(provider.clone()));
    use_on(&provider, &states, &closed, 1);
    use_on(&provider, &states, &closed, 1);
    let answers = block_on(
        states.gather(Duration::from_secs(5), |worker, state| async move {
            let here = WorkerLoop::current().map(|w| w.id());
            (worker, here, state.map(|s| s.uses.get()))
        }),
    );
    assert_eq!(
        answers,
        vec![
            Answer::Replied((0, Some(0), None)),
            Answer::Replied((1, Some(1), Some(2))),
        ]
    );
}

#[test]
fn a_stuck_worker_gives_no_reply_within_the_deadline_on_and_off_the_loop() {
    let (_lp, provider) = two_workers();
    let states = Arc::new(PerWorker::<Probe>::new(provider.clone()));
    // Worker 1 blocks its thread (a task that never yields) for 3 s.
    provider
        .worker(1)
        .unwrap()
        .submit(|| std::thread::sleep(Duration::from_secs(3)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));

    let started = Instant::now();
    let answers = block_on(states.gather(
        Duration::from_millis(300),
        |worker, _| async move { worker },
    ));
    assert_eq!(answers, vec![Answer::Replied(0), Answer::NoReply]);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "off the loop, the deadline ended the wait (took {:?})",
        started.elapsed()
    );

    // On worker 0, while worker 1 is still stuck: worker 0's own timer ends the wait, and
    // worker 0 answers its own question (it does not block itself).
    let on_loop = states.clone();
    let answers = block_on(provider.worker(0).unwrap().spawn(move || async move {
        on_loop
            .gather(
                Duration::from_millis(300),
                |worker, _| async move { worker },
            )
            .await
    }))
    .unwrap();
    assert_eq!(answers, vec![Answer::Replied(0), Answer::NoReply]);
}

#[test]
fn counters_count_round_trips_of_every_connection_that_counts_into_them() {
    // The pipe side is covered by the drivers' tests (real servers); here the call side.
    let counters = std::rc::Rc::new(Counters::default());
    let ok = counters.begin();
    let cancelled = counters.begin();
    ok.end(Outcome::Ok);
    drop(cancelled);
    let stats = counters.snapshot(Some(0));
    assert_eq!((stats.calls, stats.ok, stats.cancelled), (2, 1, 1));
    assert_eq!(stats.round_trips, counters.pipes().snapshot());
}
