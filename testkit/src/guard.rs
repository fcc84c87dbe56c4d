//! A hang guard for tests: run a closure on its own thread and fail, rather than hang, when it
//! does not finish in time. Not a timing assertion: the limit is generous on purpose.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and panics (naming `what`) if it does not finish within `limit`.
/// A panic inside `f` is re-raised on the calling thread.
// Failing the calling test is this function's job: panicking is its error report.
#[allow(clippy::panic)]
pub fn guard<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("{what}: finished without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung for more than {limit:?}"),
    }
}
