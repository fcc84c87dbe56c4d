//! The bridge queue: the FIFO of requests whose replies the loop's reader task delivers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::BytesMut;

use super::slots::Sink;
use super::{Codec, RequestError};
use crate::conn::{CloseCause, Handler};

/// One request waiting for its reply.
pub(crate) struct Entry<C: Codec> {
    pub(crate) expect: C::Expect,
    pub(crate) sink: Sink<C::Reply>,
}

/// State shared by a pipelined connection's handle, its batches and its reader.
pub(crate) struct PipeState<C: Codec> {
    pub(crate) codec: C,
    /// Oldest first. Invariant 1: an entry is pushed before its bytes are written, one reply
    /// completes the head, and nothing is removed from the middle.
    pub(crate) queue: VecDeque<Entry<C>>,
}

/// The [`Handler`] of a pipelined connection: completes the head of the bridge queue per reply.
pub(crate) struct PipeHandler<C: Codec> {
    pub(crate) state: Rc<RefCell<PipeState<C>>>,
}

impl<C: Codec> Handler for PipeHandler<C> {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        loop {
            let Some(head) = state.queue.front() else {
                return state.codec.unsolicited(input).map_err(CloseCause::protocol);
            };
            match state.codec.decode(&head.expect, input) {
                Ok(Some(reply)) => {
                    if let Some(entry) = state.queue.pop_front() {
                        entry.sink.deliver(Ok(reply));
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseCause::protocol(e)),
            }
        }
    }

    fn on_close(&mut self, cause: &CloseCause) {
        match self.state.try_borrow_mut() {
            Ok(mut state) => {
                // Take the entries out first: delivering may wake callers, and none of them may
                // see the queue half-drained.
                let entries = std::mem::take(&mut state.queue);
                drop(state);
                fail_all(entries, cause);
            }
            Err(_) => {
                // The close came from inside a section that holds the state (no such path is
                // known). Fail the entries as soon as it is released, from a task of this worker,
                // rather than panic.
                let state = self.state.clone();
                let cause = cause.clone();
                let _ = crate::task::spawn_detached(async move {
                    let entries = std::mem::take(&mut state.borrow_mut().queue);
                    fail_all(entries, &cause);
                });
            }
        }
    }
}

fn fail_all<C: Codec>(entries: VecDeque<Entry<C>>, cause: &CloseCause) {
    for entry in entries {
        entry.sink.deliver(Err(RequestError::Closed(cause.clone())));
    }
}
