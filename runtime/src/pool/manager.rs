//! The driver-supplied half of a pool: how to open, check and reset one connection.

/// Opens and vets connections of one driver to one server.
///
/// The pool calls it only from the worker that owns the pool, so nothing here needs to be
/// `Send`; the futures may hold `Rc`s and borrow `self`.
///
/// When each method runs:
/// - [`connect`](Self::connect): a checkout found no usable idle connection and a slot is free.
/// - [`is_broken`](Self::is_broken): at every checkout and return, and when shared connections
///   are scanned; `true` closes the connection and frees its slot.
/// - [`recycle`](Self::recycle): **lazily**, when a connection that was returned by a
///   [`Pooled`](super::Pooled) permit is checked out next (a `Drop` cannot await, and spawning
///   from `Drop` would fail off the executor). Reset per-session state here.
/// - [`health_check`](Self::health_check): at checkout, after `recycle`, when the connection was
///   idle longer than [`Config::health_check_after`](super::Config::health_check_after).
///
/// A failed `recycle` or `health_check` closes that connection; the caller then gets a freshly
/// opened one (or the connect error), never the error of the check.
///
/// Shared connections ([`SharedPool`](super::SharedPool)) are multiplexed by many callers at once
/// and are never recycled or health-checked: only `is_broken` vets them.
// `async fn` in a public trait: deliberate, these futures are local to one worker and must not
// be required to be `Send`.
#[allow(async_fn_in_trait)]
pub trait Manager: 'static {
    /// The connection type.
    type Conn: 'static;
    /// The driver's error type.
    type Error: std::error::Error + 'static;

    /// Opens one new connection.
    async fn connect(&self) -> Result<Self::Conn, Self::Error>;

    /// Cheap synchronous check: is this connection already known dead (closed socket, protocol
    /// error)? Must not block.
    fn is_broken(&self, conn: &Self::Conn) -> bool;

    /// Checks a connection right before it is handed out: an idle one of an exclusive
    /// [`Pool`](super::Pool) at each checkout (after [`is_broken`](Self::is_broken)), and the
    /// one [`SharedPool::get_checked`](super::SharedPool::get_checked) chose. `false` closes it
    /// (for a shared one: takes it out of the rotation) and the pool takes the next one (or
    /// opens one). Unlike `is_broken`, which the pools also ask of every connection when they
    /// reap, this runs once per checkout, on the connection chosen: the place for a check that
    /// costs a system call, such as looking for a close the connection's reader has not seen
    /// yet (`Pipe::probe_idle`). Must not block. The default accepts every connection.
    fn check_out(&self, conn: &Self::Conn) -> bool {
        let _ = conn;
        true
    }

    /// Checks a connection that was idle longer than `Config::health_check_after`; `Err` closes
    /// it. The default accepts every connection.
    async fn health_check(&self, conn: &mut Self::Conn) -> Result<(), Self::Error> {
        let _ = conn;
        Ok(())
    }

    /// Work in progress on a shared connection that its handles do not show: a pipelined
    /// connection's callers take a handle only to start a request, so what measures its load is
    /// the requests still in flight on it. [`SharedPool`](super::SharedPool) adds this to the
    /// handle count to pick the least-loaded connection and to decide when to open another
    /// (see [`Config::shared_target_load`](super::Config::shared_target_load)). Must be cheap
    /// and must not block. The default is 0 (handles alone count).
    fn load(&self, conn: &Self::Conn) -> usize {
        let _ = conn;
        0
    }

    /// Resets a returned connection before its next use (e.g. `DISCARD ALL`, `UNWATCH`).
    /// `Ok(true)` keeps it; `Ok(false)` or `Err` closes it. The default keeps every connection.
    async fn recycle(&self, conn: &mut Self::Conn) -> Result<bool, Self::Error> {
        let _ = conn;
        Ok(true)
    }
}
