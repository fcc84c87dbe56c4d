//! Picking free loopback ports.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

/// How many recently handed-out ports this process remembers, so two servers started at the
/// same moment by parallel tests never get the same port from the kernel.
const RECENT: usize = 512;

static HANDED_OUT: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());

/// Returns a loopback port that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port and releases it. Another process can still grab the port
/// before the server binds it, so callers retry startup with a fresh port on bind failure.
pub fn free_port() -> Result<u16> {
    let mut last = None;
    for _ in 0..32 {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io("binding 127.0.0.1:0 to pick a free port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading the picked port", e))?
            .port();
        drop(listener);
        let mut recent = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if !recent.contains(&port) {
            if recent.len() >= RECENT {
                recent.pop_front();
            }
            recent.push_back(port);
            return Ok(port);
        }
        last = Some(port);
    }
    Err(Error::Config(format!(
        "could not find a fresh free port (kernel kept returning {last:?})"
    )))
}
