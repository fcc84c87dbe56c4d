//! Pool behavior on a real glommio executor, with a fake [`Manager`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use corelane_runtime::pool::{Config, Manager, Pool, PoolError, SharedPool};
use futures_lite::future::{poll_once, yield_now};
use glommio::timer::sleep;

fn run<F: Future<Output = ()>>(fut: F) {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(256 << 10)
        .make()
        .unwrap()
        .run(fut);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the fake server saw.
#[derive(Default)]
struct Stats {
    attempts: Cell<usize>,
    connects: Cell<usize>,
    live: Cell<usize>,
    max_live: Cell<usize>,
    recycles: Cell<usize>,
    health_checks: Cell<usize>,
    /// Connects fail while set.
    fail: Cell<bool>,
    /// Connects take this long.
    connect_delay: Cell<Option<Duration>>,
    recycle_keeps: Cell<bool>,
    health_fails: Cell<bool>,
    /// `check_out` refuses connections with these ids.
    refused: RefCell<Vec<usize>>,
    /// How many times `check_out` was asked.
    check_outs: Cell<usize>,
    /// `recycle` and `health_check` take this long.
    check_delay: Cell<Option<Duration>>,
    /// The `broken` flag of every connection ever opened, by id.
    flags: RefCell<Vec<Rc<Cell<bool>>>>,
}

struct FakeConn {
    id: usize,
    broken: Rc<Cell<bool>>,
    stats: Rc<Stats>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.stats.live.set(self.stats.live.get() - 1);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("server down")]
struct Down;

struct FakeManager {
    stats: Rc<Stats>,
}

impl Manager for FakeManager {
    type Conn = FakeConn;
    type Error = Down;

    async fn connect(&self) -> Result<FakeConn, Down> {
        let s = &self.stats;
        s.attempts.set(s.attempts.get() + 1);
        if let Some(delay) = s.connect_delay.get() {
            sleep(delay).await;
        }
        if s.fail.get() {
            return Err(Down);
        }
        let id = s.connects.get();
        s.connects.set(id + 1);
        s.live.set(s.live.get() + 1);
        s.max_live.set(s.max_live.get().max(s.live.get()));
        let broken = Rc::new(Cell::new(false));
        s.flags.borrow_mut().push(Rc::clone(&broken));
        Ok(FakeConn {
            id,
            broken,
            stats: Rc::clone(s),
        })
    }

    fn is_broken(&self, conn: &FakeConn) -> bool {
        conn.broken.get()
    }

    fn check_out(&self, conn: &FakeConn) -> bool {
        self.stats.check_outs.set(self.stats.check_outs.get() + 1);
        !self.stats.refused.borrow().contains(&conn.id)
    }

    async fn health_check(&self, _conn: &mut FakeConn) -> Result<(), Down> {
        if let Some(delay) = self.stats.check_delay.get() {
            sleep(delay).await;
        }
        self.stats
            .health_checks
            .set(self.stats.health_checks.get() + 1);
        if self.stats.health_fails.get() {
            Err(Down)
        } else {
            Ok(())
        }
    }

    async fn recycle(&self, _conn: &mut FakeConn) -> Result<bool, Down> {
        if let Some(delay) = self.stats.check_delay.get() {
            sleep(delay).await;
        }
        self.stats.recycles.set(self.stats.recycles.get() + 1);
        Ok(self.stats.recycle_keeps.get())
    }
}

fn stats() -> Rc<Stats> {
    let s = Rc::new(Stats::default());
    s.recycle_keeps.set(true);
    s
}

/// A config without time limits that could interfere, for tests that set their own.
fn quiet(max_size: usize) -> Config {
    Config::default()
        .with_max_size(max_size)
        .with_max_lifetime(None)
        .with_idle_timeout(None)
        .with_health_check_after(None)
        .with_acquire_timeout(Some(Duration::from_secs(5)))
        .with_backoff(ms(10), ms(40))
}

fn pool(s: &Rc<Stats>, config: Config) -> Pool<FakeManager> {
    Pool::new(
        FakeManager {
            stats: Rc::clone(s),
        },
        config,
    )
    .unwrap()
}

fn shared_pool(s: &Rc<Stats>, config: Config) -> SharedPool<FakeManager> {
    SharedPool::new(
        FakeManager {
            stats: Rc::clone(s),
        },
        config,
    )
    .unwrap()
}

#[test]
fn bad_config_is_an_error_not_a_panic() {
    let s = stats();
    let err = Pool::new(
        FakeManager {
            stats: Rc::clone(&s),
        },
        Config::default().with_max_size(0),
    );
    assert!(err.is_err());
}

#[test]
fn max_size_never_exceeded_under_50_getters() {
    run(async {
        let s = stats();
        s.connect_delay.set(Some(ms(2)));
        let pool = pool(&s, quiet(5));
        let in_use = Rc::new(Cell::new(0usize));
        let max_in_use = Rc::new(Cell::new(0usize));
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            let pool = pool.clone();
            let in_use = Rc::clone(&in_use);
            let max_in_use = Rc::clone(&max_in_use);
            tasks.push(glommio::spawn_local(async move {
                let conn = pool.get().await.unwrap();
                in_use.set(in_use.get() + 1);
                max_in_use.set(max_in_use.get().max(in_use.get()));
                assert!(pool.status().open <= 5);
                sleep(ms(i % 3)).await;
                in_use.set(in_use.get() - 1);
                drop(conn);
            }));
        }
        for task in tasks {
            task.await;
        }
        assert!(max_in_use.get() <= 5, "max in use {}", max_in_use.get());
        assert!(max_in_use.get() >= 2, "should run concurrently");
        assert!(s.max_live.get() <= 5, "max live {}", s.max_live.get());
        assert!(s.connects.get() <= 5);
        let st = pool.status();
        assert_eq!(st.open, st.idle);
        assert_eq!(st.waiting, 0);
        assert_eq!(st.open, s.live.get());
    });
}

#[test]
fn waiters_are_served_fifo() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1));
        let held = pool.get().await.unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let task_pool = pool.clone();
            let log = Rc::clone(&log);
            tasks.push(glommio::spawn_local(async move {
                let conn = task_pool.get().await.unwrap();
                log.borrow_mut().push(i);
                yield_now().await;
                drop(conn);
            }));
            // Let task `i` park before spawning the next.
            while pool.status().waiting < i + 1 {
                yield_now().await;
            }
        }
        drop(held);
        for task in tasks {
            task.await;
        }
        assert_eq!(*log.borrow(), vec![0, 1, 2, 3, 4]);
        assert_eq!(s.connects.get(), 1);
    });
}

#[test]
fn dropped_waiting_get_releases_its_place() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1));
        let held = pool.get().await.unwrap();

        // Parked, then dropped: leaves the queue.
        let mut a = Box::pin(pool.get());
        assert!(poll_once(&mut a).await.is_none());
        assert_eq!(pool.status().waiting, 1);
        drop(a);
        assert_eq!(pool.status().waiting, 0);

        // Granted the connection, then dropped before consuming it: the grant passes on.
        let mut b = Box::pin(pool.get());
        let mut c = Box::pin(pool.get());
        assert!(poll_once(&mut b).await.is_none());
        assert!(poll_once(&mut c).await.is_none());
        drop(held);
        drop(b);
        let conn = c.await.unwrap();
        assert_eq!(conn.id, 0);
        assert_eq!(pool.status().open, 1);
        drop(conn);
        let st = pool.status();
        assert_eq!((st.open, st.idle, st.waiting), (1, 1, 0));
        assert_eq!(s.connects.get(), 1);
    });
}

#[test]
fn dropped_get_mid_connect_releases_its_slot() {
    run(async {
        let s = stats();
        s.connect_delay.set(Some(Duration::from_secs(10)));
        let pool = pool(&s, quiet(1));
        let mut fut = Box::pin(pool.get());
        assert!(poll_once(&mut fut).await.is_none());
        assert_eq!(s.attempts.get(), 1);
        assert_eq!(pool.status().open, 1, "the connect holds the slot");
        drop(fut);
        assert_eq!(pool.status().open, 0, "dropping mid-connect frees the slot");
        assert_eq!(s.live.get(), 0);

        s.connect_delay.set(None);
        let conn = pool.get().await.unwrap();
        assert_eq!(pool.status().open, 1);
        drop(conn);
    });
}

/// Drops a `get` after every possible number of polls, through every await point (wait, recycle,
/// health check, backoff, connect), and checks that no slot leaks.
#[test]
fn get_dropped_at_every_poll_leaks_nothing() {
    run(async {
        let s = stats();
        s.connect_delay.set(Some(ms(2)));
        s.check_delay.set(Some(ms(2)));
        let pool = pool(
            &s,
            quiet(2)
                .with_health_check_after(Some(Duration::ZERO))
                .with_backoff(ms(2), ms(4)),
        );
        for polls in 0..12 {
            // One idle dirty conn (recycle + health check on checkout), one held.
            let held = pool.get().await.unwrap();
            let other = pool.get().await.unwrap();
            drop(other);
            // Odd rounds: recycle refuses the idle conn, so `get` connects (and every fourth
            // round that connect fails, which also arms the backoff).
            s.recycle_keeps.set(polls % 2 == 0);
            s.fail.set(polls % 4 == 3);
            let mut fut = Box::pin(pool.get());
            let mut done = false;
            for _ in 0..polls {
                if poll_once(&mut fut).await.is_some() {
                    done = true;
                    break;
                }
                sleep(ms(1)).await;
            }
            drop(fut);
            s.fail.set(false);
            s.recycle_keeps.set(true);
            let st = pool.status();
            assert_eq!(st.waiting, 0, "polls {polls}");
            assert!(st.open <= 2, "polls {polls}");
            assert_eq!(
                st.open,
                st.idle + 1,
                "polls {polls} done {done}: only `held` is out"
            );
            assert_eq!(s.live.get(), st.open, "polls {polls}");
            drop(held);
            // The pool still serves max_size connections at once.
            let a = pool.get().await.unwrap();
            let b = pool.get().await.unwrap();
            assert_eq!(pool.status().open, 2);
            drop((a, b));
        }
        assert!(
            s.attempts.get() > s.connects.get(),
            "failed connects were exercised"
        );
        assert!(s.health_checks.get() > 0 && s.recycles.get() > 0);
    });
}

#[test]
fn acquire_timeout_returns_timeout_and_leaks_nothing() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1).with_acquire_timeout(Some(ms(30))));
        let held = pool.get().await.unwrap();
        let err = pool.get().await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(pool.status().waiting, 0);
        drop(held);

        // A connect slower than the acquire timeout: Timeout too, and the slot is freed.
        let pool2 = self::pool(&s, quiet(1).with_acquire_timeout(Some(ms(30))));
        s.connect_delay.set(Some(Duration::from_secs(10)));
        assert!(matches!(pool2.get().await, Err(PoolError::Timeout)));
        assert_eq!(pool2.status().open, 0);
    });
}

#[test]
fn connect_timeout_is_reported() {
    run(async {
        let s = stats();
        s.connect_delay.set(Some(Duration::from_secs(10)));
        let pool = pool(&s, quiet(1).with_connect_timeout(Some(ms(20))));
        let err = pool.get().await.unwrap_err();
        assert!(matches!(err, PoolError::ConnectTimeout), "{err:?}");
        assert!(err.is_connect());
        assert_eq!(pool.status().open, 0);
        assert_eq!(pool.status().connect_failures, 1);
    });
}

#[test]
fn broken_conns_are_replaced() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(2));
        // Broken while checked out: closed on return.
        let conn = pool.get().await.unwrap();
        conn.broken.set(true);
        drop(conn);
        assert_eq!(pool.status().open, 0);
        assert_eq!(s.live.get(), 0);

        // Broken while idle: skipped at checkout, a new one is opened.
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 1);
        drop(conn);
        s.flags.borrow()[1].set(true);
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 2);
        assert_eq!(s.live.get(), 1);
        assert_eq!(pool.status().open, 1);
    });
}

#[test]
fn check_out_is_asked_once_per_checkout_and_a_refused_conn_is_replaced() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(3));
        // Three idle connections: 0, 1, 2 (2 returned last, so it is handed out first).
        let conns = [
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        ];
        assert_eq!(s.check_outs.get(), 0, "new connections are not checked");
        drop(conns);
        assert_eq!(pool.status().idle, 3);
        // Only the connection chosen is asked, not every idle one.
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 2);
        assert_eq!(s.check_outs.get(), 1);
        drop(conn);
        // Refused: closed, and the next idle one is asked and handed out.
        s.refused.borrow_mut().push(2);
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 1);
        assert_eq!(s.check_outs.get(), 3);
        assert_eq!(pool.status().open, 2);
        assert_eq!(s.live.get(), 2);
        drop(conn);
        // Every idle one refused: a new one is opened.
        s.refused.borrow_mut().extend([0, 1]);
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 3);
        assert_eq!(s.live.get(), 1);
        assert_eq!(pool.status().open, 1);
    });
}

#[test]
fn get_checked_replaces_a_refused_shared_conn_and_gives_up_checking_after_max_size_plus_one() {
    run(async {
        let s = stats();
        let pool = shared_pool(&s, quiet(2));
        // Opened, then checked on the way out: 0 is accepted.
        let conn = pool.get_checked().await.unwrap();
        assert_eq!(conn.id, 0);
        assert_eq!(s.check_outs.get(), 1);
        drop(conn);
        // The hot path asks nothing.
        drop(pool.try_get_shared().unwrap());
        assert_eq!(s.check_outs.get(), 1);
        // Refused: taken out of the rotation, and a new one is handed out.
        s.refused.borrow_mut().push(0);
        let conn = pool.get_checked().await.unwrap();
        assert_eq!(conn.id, 1);
        assert_eq!(s.check_outs.get(), 3);
        drop(conn);
        pool.reap_now();
        assert_eq!(s.live.get(), 1, "the refused connection is closed");
        // Every connection refused: after max_size + 1 refusals the next is handed out as is.
        s.refused.borrow_mut().extend(0..100);
        let before = s.check_outs.get();
        let conn = pool.get_checked().await.unwrap();
        assert_eq!(s.check_outs.get() - before, 3);
        drop(conn);
    });
}

#[test]
fn discard_and_detach_free_the_slot() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1));
        let mut conn = pool.get().await.unwrap();
        conn.discard();
        drop(conn);
        assert_eq!(pool.status().open, 0);
        assert_eq!(s.live.get(), 0);

        let conn = pool.get().await.unwrap();
        let raw = conn.detach();
        assert_eq!(pool.status().open, 0);
        assert_eq!(
            s.live.get(),
            1,
            "detached conn is still open, outside the pool"
        );
        let again = pool.get().await.unwrap();
        assert_ne!(again.id, raw.id);
    });
}

#[test]
fn returned_conns_are_recycled_before_reuse() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1));
        drop(pool.get().await.unwrap());
        assert_eq!(s.recycles.get(), 0, "recycle runs at next checkout");
        let conn = pool.get().await.unwrap();
        assert_eq!((conn.id, s.recycles.get()), (0, 1));
        drop(conn);

        s.recycle_keeps.set(false);
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 1, "a refused recycle closes the conn");
        assert_eq!(s.live.get(), 1);
    });
}

#[test]
fn health_check_after_idle() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1).with_health_check_after(Some(ms(20))));
        drop(pool.get().await.unwrap());
        let conn = pool.get().await.unwrap();
        assert_eq!(s.health_checks.get(), 0, "fresh from use: no check");
        drop(conn);
        sleep(ms(40)).await;
        let conn = pool.get().await.unwrap();
        assert_eq!((conn.id, s.health_checks.get()), (0, 1));
        drop(conn);
        sleep(ms(40)).await;
        s.health_fails.set(true);
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 1, "a failed check replaces the conn");
        assert_eq!(s.live.get(), 1);
    });
}

#[test]
fn max_lifetime_evicts() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(2).with_max_lifetime(Some(ms(30))));
        // Expired while idle: replaced at checkout.
        drop(pool.get().await.unwrap());
        sleep(ms(50)).await;
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 1);
        assert_eq!(s.live.get(), 1);
        // Expired while checked out: closed on return.
        sleep(ms(50)).await;
        drop(conn);
        assert_eq!(pool.status().open, 0);
        assert_eq!(s.live.get(), 0);
    });
}

#[test]
fn idle_timeout_evicts_but_keeps_min_idle() {
    run(async {
        let s = stats();
        let pool = pool(
            &s,
            quiet(3).with_idle_timeout(Some(ms(30))).with_min_idle(1),
        );
        assert_eq!(pool.fill().await.unwrap(), 1);
        assert_eq!(pool.fill().await.unwrap(), 0);
        let a = pool.get().await.unwrap();
        let b = pool.get().await.unwrap();
        let c = pool.get().await.unwrap();
        drop((a, b, c));
        assert_eq!(pool.status().idle, 3);
        assert_eq!(pool.reap_now(), 0, "not idle long enough yet");
        sleep(ms(50)).await;
        assert_eq!(pool.reap_now(), 2);
        let st = pool.status();
        assert_eq!((st.open, st.idle), (1, 1));
        assert_eq!(s.live.get(), 1);
    });
}

#[test]
fn failed_connects_back_off_and_recover() {
    run(async {
        let s = stats();
        s.fail.set(true);
        let pool = pool(&s, quiet(2).with_backoff(ms(20), ms(40)));
        // The server is down: each get returns the connect error, none hangs.
        for n in 1..=4u32 {
            let err = pool.get().await.unwrap_err();
            assert!(matches!(err, PoolError::Connect(Down)), "{err:?}");
            assert_eq!(pool.status().connect_failures, n);
            assert_eq!(pool.status().open, 0);
        }
        assert_eq!(s.attempts.get(), 4, "one attempt per get");
        s.fail.set(false);
        let conn = pool.get().await.unwrap();
        assert_eq!(pool.status().connect_failures, 0, "a success resets");
        drop(conn);
    });
}

#[test]
fn failed_connect_hands_the_slot_to_the_next_waiter() {
    run(async {
        let s = stats();
        s.fail.set(true);
        s.connect_delay.set(Some(ms(5)));
        let pool = pool(&s, quiet(1).with_backoff(ms(1), ms(2)));
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let pool = pool.clone();
            tasks.push(glommio::spawn_local(
                async move { pool.get().await.map(|_| ()) },
            ));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await);
        }
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(PoolError::Connect(_)))));
        assert_eq!(s.attempts.get(), 3);
        let st = pool.status();
        assert_eq!((st.open, st.waiting), (0, 0));
    });
}

#[test]
fn close_fails_waiters_and_future_gets() {
    run(async {
        let s = stats();
        let pool = pool(&s, quiet(1));
        let held = pool.get().await.unwrap();
        let mut waiting = Box::pin(pool.get());
        assert!(poll_once(&mut waiting).await.is_none());
        pool.close();
        assert!(matches!(waiting.await, Err(PoolError::Closed)));
        assert!(matches!(pool.get().await, Err(PoolError::Closed)));
        drop(held);
        assert_eq!(pool.status().open, 0);
        assert_eq!(s.live.get(), 0);
    });
}

#[test]
fn shared_spreads_users_and_respects_max_size() {
    run(async {
        let s = stats();
        let pool = shared_pool(&s, quiet(3).with_shared_target_load(2));
        let mut handles = Vec::new();
        for _ in 0..6 {
            handles.push(pool.get_shared().await.unwrap());
        }
        assert_eq!(s.connects.get(), 3);
        let mut per_conn = [0usize; 3];
        for h in &handles {
            per_conn[h.id] += 1;
        }
        assert_eq!(per_conn, [2, 2, 2]);
        // At max_size: overload, round-robin, never a fourth connection.
        for _ in 0..3 {
            handles.push(pool.get_shared().await.unwrap());
        }
        assert_eq!(s.connects.get(), 3);
        let mut per_conn = [0usize; 3];
        for h in &handles {
            per_conn[h.id] += 1;
        }
        assert_eq!(per_conn, [3, 3, 3]);
        assert_eq!(pool.status().users, 9);

        // Dropping users frees load: the next caller joins the least-loaded connection.
        handles.retain(|h| h.id != 1);
        let h = pool.get_shared().await.unwrap();
        assert_eq!(h.id, 1);
        assert_eq!(h.users(), 1);
    });
}

#[test]
fn shared_under_50_concurrent_callers() {
    run(async {
        let s = stats();
        s.connect_delay.set(Some(ms(5)));
        let pool = shared_pool(&s, quiet(2).with_shared_target_load(10));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let pool = pool.clone();
            tasks.push(glommio::spawn_local(async move {
                let h = pool.get_shared().await.unwrap();
                sleep(ms(5)).await;
                h.id
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await);
        }
        assert!(s.connects.get() <= 2, "connects {}", s.connects.get());
        assert_eq!(ids.len(), 50);
        assert_eq!(pool.status().users, 0);
        assert_eq!(pool.status().waiting, 0);
        assert_eq!(pool.status().connecting, 0);
    });
}

#[test]
fn shared_evicts_broken_and_discarded() {
    run(async {
        let s = stats();
        let pool = shared_pool(&s, Config::shared().with_acquire_timeout(Some(ms(500))));
        let a = pool.get_shared().await.unwrap();
        let b = pool.get_shared().await.unwrap();
        assert!(a.same_conn(&b));
        assert_eq!(a.users(), 2);
        a.broken.set(true);
        let c = pool.get_shared().await.unwrap();
        assert!(!c.same_conn(&a), "broken conn left the rotation");
        assert_eq!(s.connects.get(), 2);
        drop((a, b));
        assert_eq!(
            s.live.get(),
            1,
            "the broken conn closes with its last handle"
        );

        c.discard();
        let d = pool.get_shared().await.unwrap();
        assert!(!d.same_conn(&c));
        assert_eq!(pool.status().open, 1);
    });
}

#[test]
fn shared_connect_error_and_waiters() {
    run(async {
        let s = stats();
        s.fail.set(true);
        s.connect_delay.set(Some(ms(5)));
        let pool = shared_pool(&s, Config::shared().with_backoff(ms(1), ms(2)));
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let pool = pool.clone();
            tasks.push(glommio::spawn_local(async move {
                pool.get_shared().await.map(|_| ())
            }));
        }
        for task in tasks {
            assert!(matches!(task.await, Err(PoolError::Connect(Down))));
        }
        assert_eq!(s.attempts.get(), 3, "waiters retry one at a time");
        s.fail.set(false);
        assert!(pool.get_shared().await.is_ok());
        assert_eq!(pool.status().connect_failures, 0);
    });
}

#[test]
fn shared_dropped_mid_connect_and_idle_timeout() {
    run(async {
        let s = stats();
        s.connect_delay.set(Some(Duration::from_secs(10)));
        let pool = shared_pool(
            &s,
            Config::shared()
                .with_max_lifetime(None)
                .with_idle_timeout(Some(ms(30))),
        );
        let mut fut = Box::pin(pool.get_shared());
        let mut waiter = Box::pin(pool.get_shared());
        assert!(poll_once(&mut fut).await.is_none());
        assert!(poll_once(&mut waiter).await.is_none());
        assert_eq!(pool.status().connecting, 1);
        assert_eq!(pool.status().waiting, 1);
        drop(fut);
        drop(waiter);
        let st = pool.status();
        assert_eq!((st.connecting, st.waiting), (0, 0));

        s.connect_delay.set(None);
        drop(pool.get_shared().await.unwrap());
        assert_eq!(pool.status().open, 1);
        sleep(ms(50)).await;
        assert_eq!(pool.reap_now(), 1);
        assert_eq!(s.live.get(), 0);
    });
}

/// Every time limit of a pool at `Duration::MAX` (issue 9 A4): no panic, and each behaves as
/// "never" — connections are handed out and kept, the acquire and connect limits never fire.
#[test]
fn every_time_limit_at_duration_max_means_never() {
    run(async {
        let s = stats();
        let forever = Config::default()
            .with_max_size(2)
            .with_max_lifetime(Some(Duration::MAX))
            .with_idle_timeout(Some(Duration::MAX))
            .with_health_check_after(Some(Duration::MAX))
            .with_acquire_timeout(Some(Duration::MAX))
            .with_connect_timeout(Some(Duration::MAX))
            .with_backoff(Duration::MAX, Duration::MAX);
        // Connects take a while, so the connect limit's timer is armed.
        s.connect_delay.set(Some(ms(5)));
        let exclusive = pool(&s, forever.clone().with_max_size(1));
        for _ in 0..3 {
            let conn = exclusive.get().await.unwrap();
            // A second getter waits (its acquire limit armed) until the first lets go.
            let waiter = {
                let exclusive = exclusive.clone();
                glommio::spawn_local(async move { exclusive.get().await.is_ok() })
            };
            sleep(ms(5)).await;
            drop(conn);
            assert!(waiter.await);
            assert_eq!(exclusive.reap_now(), 0);
        }
        let shared = shared_pool(&s, forever);
        for _ in 0..3 {
            let conn = shared.get_shared().await.unwrap();
            drop(conn);
            assert_eq!(shared.reap_now(), 0);
        }
        assert_eq!(s.connects.get(), 2);
        assert_eq!(s.health_checks.get(), 0);
    });
}
