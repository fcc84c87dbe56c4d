//! Reconnecting subscription sessions: a dedicated connection on one worker that a consumer
//! anywhere feeds with (un)subscribe requests and drains as a stream of pushed messages
//! (Redis pub/sub, PostgreSQL LISTEN/NOTIFY, …).
//!
//! ```text
//!  any thread                          one worker
//!  ──────────                          ─────────────────────────────────────────────────
//!  consumer ─── request + waiter ────▶ Shared: wanted set + queue of ops (short locks)
//!     ▲            (mailbox wake)        │
//!     │                                  ▼
//!     │                                run: back off → open → resubscribe → serve ─┐
//!     │                                  ▲                                         │
//!     │                                  └──────────── connection lost ◀───────────┘
//!     └──── bounded Inbox ◀──────────── the driver's Handler: messages, confirmations
//! ```
//!
//! What is here, one job per file:
//!
//! - [`Spec`] and [`Wanted`] (`spec.rs`): what the driver plugs in — its message and error
//!   types, and what a request means for the set of wanted names.
//! - [`Waiter`] and [`Op`] (`waiter.rs`): someone waiting for a request to take effect, and
//!   the semantics of a lost connection (an unsubscribe succeeds, a subscribe fails but stays
//!   wanted).
//! - [`Status`] (`status.rs`): connected, connection count, connection id, last error.
//! - [`Shared`] and [`EndGuard`] (`shared.rs`): the state the consumer and the connection
//!   task share — inbox, wanted set, queued ops, status — and the end of the stream.
//! - [`Confirmations`] (`pending.rs`): the handler's FIFO of requests written and not yet
//!   confirmed, filled entry-before-bytes.
//! - [`Link`] (`link.rs`): what the handler and the connection task share on the worker —
//!   the confirmations and the close.
//! - [`start`], [`run`], [`Connect`] and [`Connection`] (`run.rs`): the connection task's
//!   loop, driven through the driver's connection.
//!
//! The driver keeps what is its own: command encoding, the handshake, its handler's frame
//! parsing, host selection, and what closing politely means.
//!
//! Locks are `std::sync::Mutex` sections of a few instructions, never held across an await or
//! a callback. Wakes that cross threads go through the worker's mailbox
//! ([`Inbox::wake_task`](crate::inbox::Inbox::wake_task)).

mod link;
mod pending;
mod run;
mod shared;
mod spec;
mod status;
mod waiter;

#[cfg(test)]
mod tests;

pub use link::Link;
pub use pending::{Confirmations, Pending};
pub use run::{run, sleep_unless_closed, start, Connect, Connection};
pub use shared::{EndGuard, Shared};
pub use spec::{Spec, Wanted};
pub use status::Status;
pub use waiter::{Op, Waiter};
