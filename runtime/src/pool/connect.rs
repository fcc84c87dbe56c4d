//! The glommio shell around connecting: backoff waits, the connect timeout, and a generic
//! timeout helper. This is one of the few places in the pool that reads the clock.

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

use super::{Backoff, Config, Manager, PoolError};

/// Runs `fut`, giving up after `limit`; `None` means the limit passed first.
pub(crate) async fn with_timeout<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        None => Some(fut.await),
        Some(limit) => crate::task::timeout(limit, fut).await,
    }
}

/// Opens connections for one pool, honouring the reconnect backoff shared by all its callers.
#[derive(Debug)]
pub(crate) struct Connector {
    backoff: RefCell<Backoff>,
    rng: RefCell<fastrand::Rng>,
    connect_timeout: Option<Duration>,
}

impl Connector {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            backoff: RefCell::new(Backoff::new(config.backoff_initial, config.backoff_max)),
            rng: RefCell::new(fastrand::Rng::new()),
            connect_timeout: config.connect_timeout,
        }
    }

    /// Waits out the backoff left by earlier failures, then makes exactly one connect attempt.
    ///
    /// A failure is returned to this caller and pushes the backoff further; a success resets it.
    /// Dropping the future mid-attempt leaves the backoff unchanged.
    pub(crate) async fn connect<M: Manager>(
        &self,
        manager: &M,
    ) -> Result<M::Conn, PoolError<M::Error>> {
        // Loop: a failure by another caller while we slept may have moved the deadline.
        loop {
            let wait = self.backoff.borrow().wait_at(Instant::now());
            match wait {
                Some(wait) => crate::task::sleep(wait).await,
                None => break,
            }
        }
        // Boxed: a driver's connect (TCP connect, handshake, auth) is a large state machine
        // (~26 KB for Redis), and without the box it is part of every future that *may*
        // connect — each call's future on paths that acquire a connection — which then costs
        // a big allocation and copies per call. One allocation per connect is nothing.
        let result = with_timeout(self.connect_timeout, Box::pin(manager.connect())).await;
        match result {
            Some(Ok(conn)) => {
                self.backoff.borrow_mut().on_success();
                Ok(conn)
            }
            Some(Err(err)) => {
                self.on_failure();
                Err(PoolError::Connect(err))
            }
            None => {
                self.on_failure();
                Err(PoolError::ConnectTimeout)
            }
        }
    }

    fn on_failure(&self) {
        let mut rng = self.rng.borrow_mut();
        self.backoff
            .borrow_mut()
            .on_failure(Instant::now(), &mut rng);
    }

    /// Consecutive failed connects since the last success.
    pub(crate) fn failures(&self) -> u32 {
        self.backoff.borrow().failures()
    }
}
