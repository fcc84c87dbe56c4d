//! Waiting for Ctrl-C or SIGTERM without a signal handler: the signals are blocked in every
//! thread and taken synchronously with `sigwait`, so shutdown runs as ordinary code (and the
//! throwaway servers' guards drop).

use std::io;

/// SIGINT and SIGTERM, blocked in the calling thread and every thread it starts after.
pub struct Blocked(libc::sigset_t);

/// Blocks SIGINT and SIGTERM. Call before starting any thread.
pub fn block() -> io::Result<Blocked> {
    // SAFETY: `sigset_t` is plain data; `sigemptyset` initializes it before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed `sigset_t` for each call.
    let rc = unsafe {
        libc::sigemptyset(&mut set)
            | libc::sigaddset(&mut set, libc::SIGINT)
            | libc::sigaddset(&mut set, libc::SIGTERM)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `set` is initialized; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(Blocked(set))
}

impl Blocked {
    /// Waits for one of the signals and returns its number.
    pub fn wait(&self) -> io::Result<i32> {
        let mut signal: libc::c_int = 0;
        // SAFETY: `self.0` is an initialized set; `signal` is a valid out-pointer.
        let rc = unsafe { libc::sigwait(&self.0, &mut signal) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(signal)
    }
}
