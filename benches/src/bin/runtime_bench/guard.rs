//! A hang guard: a measurement runs on a helper thread and is given up on after a deadline,
//! so a stuck worker is reported instead of hanging the whole benchmark.

use std::error::Error;
use std::sync::mpsc;
use std::time::Duration;

/// Why a guarded measurement produced no result.
#[derive(Debug)]
pub enum Failure {
    /// It did not finish within the deadline (the helper thread is left behind).
    Hang(Duration),
    /// It failed.
    Error(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Hang(after) => write!(f, "HANG: no result after {} s", after.as_secs()),
            Failure::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Runs `f` on a helper thread and waits at most `limit` for it.
pub fn guarded<T, F>(limit: Duration, f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Box<dyn Error>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("bench-driver".into())
        .spawn(move || {
            let _ = tx.send(f().map_err(|e| e.to_string()));
        });
    if let Err(e) = spawned {
        return Err(Failure::Error(format!("cannot start a driver thread: {e}")));
    }
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Error(e)),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Hang(limit)),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(Failure::Error("the driver thread died".into()))
        }
    }
}
