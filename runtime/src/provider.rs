//! How drivers find workers: a server's own, or the shared standalone loop.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{Error, EventLoopProvider, Loop, LoopBuilder, ServerProvider};

/// Workers resolved by [`resolve`]: a server's, or a lease on the shared standalone loop.
///
/// Cloning takes another lease. When the last lease on the standalone loop is dropped, the loop
/// shuts down; a later [`resolve`] starts a fresh one.
pub struct Provider {
    workers: Arc<dyn EventLoopProvider>,
    lease: Option<StandaloneLease>,
}

impl Provider {
    /// True when these workers belong to the shared standalone loop (not to a server).
    pub fn is_standalone(&self) -> bool {
        self.lease.is_some()
    }

    /// The workers as a shareable trait object.
    pub fn as_arc(&self) -> Arc<dyn EventLoopProvider> {
        self.workers.clone()
    }
}

impl Clone for Provider {
    fn clone(&self) -> Self {
        Provider {
            workers: self.workers.clone(),
            lease: self
                .lease
                .as_ref()
                .map(|_| StandaloneLease::acquire_existing()),
        }
    }
}

impl Deref for Provider {
    type Target = dyn EventLoopProvider;
    fn deref(&self) -> &Self::Target {
        &*self.workers
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("workers", &self.workers.num_workers())
            .field("standalone", &self.is_standalone())
            .finish()
    }
}

/// Resolves the workers drivers should use: the server's when one is given, else the shared
/// standalone loop (started on first use with [`LoopBuilder`] defaults, or with the settings given
/// to [`configure_standalone`]).
pub fn resolve(server: Option<&dyn ServerProvider>) -> Result<Provider, Error> {
    match server {
        Some(server) => Ok(Provider {
            workers: server.event_loop(),
            lease: None,
        }),
        None => {
            let (workers, lease) = StandaloneLease::acquire()?;
            Ok(Provider {
                workers,
                lease: Some(lease),
            })
        }
    }
}

/// Sets the builder used the next time the standalone loop starts. Returns `false` (and changes
/// nothing) when a standalone loop is running now.
pub fn configure_standalone(builder: LoopBuilder) -> bool {
    let mut global = lock_global();
    if global.running.is_some() {
        return false;
    }
    global.builder = Some(builder);
    true
}

/// How many standalone loops this process has started so far (for tests and diagnostics).
pub fn standalone_starts() -> u64 {
    lock_global().starts
}

/// True while a standalone loop is running.
pub fn standalone_running() -> bool {
    lock_global().running.is_some()
}

struct Running {
    workers: Arc<Loop>,
    leases: usize,
}

struct Global {
    running: Option<Running>,
    builder: Option<LoopBuilder>,
    starts: u64,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global {
    running: None,
    builder: None,
    starts: 0,
});

fn lock_global() -> MutexGuard<'static, Global> {
    GLOBAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// One reference to the shared standalone loop.
struct StandaloneLease(());

impl StandaloneLease {
    fn acquire() -> Result<(Arc<dyn EventLoopProvider>, StandaloneLease), Error> {
        let mut global = lock_global();
        if let Some(running) = &mut global.running {
            running.leases += 1;
            let workers: Arc<dyn EventLoopProvider> = running.workers.clone();
            return Ok((workers, StandaloneLease(())));
        }
        let builder = global.builder.clone().unwrap_or_default();
        let started = Arc::new(builder.start()?);
        global.starts += 1;
        global.running = Some(Running {
            workers: started.clone(),
            leases: 1,
        });
        Ok((started, StandaloneLease(())))
    }

    /// Another lease on a loop the caller already holds a lease on.
    fn acquire_existing() -> StandaloneLease {
        let mut global = lock_global();
        if let Some(running) = &mut global.running {
            running.leases += 1;
        }
        StandaloneLease(())
    }
}

impl Drop for StandaloneLease {
    fn drop(&mut self) {
        let finished = {
            let mut global = lock_global();
            match &mut global.running {
                Some(running) if running.leases > 1 => {
                    running.leases -= 1;
                    None
                }
                Some(_) => global.running.take(),
                None => None,
            }
        };
        // Shut down outside the lock: joining workers can take a moment, and a worker's job may
        // itself call `resolve`.
        if let Some(running) = finished {
            match Arc::try_unwrap(running.workers) {
                Ok(standalone) => standalone.shutdown(),
                // Someone kept an `Arc` from `Provider::as_arc`; the loop stops when they drop it.
                Err(_shared) => {}
            }
        }
    }
}
