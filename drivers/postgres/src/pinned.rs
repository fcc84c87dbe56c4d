//! A value that lives on one worker — an open transaction ([`Client::begin`]) or a session
//! ([`Client::session`]), each on an exclusive connection — named from any thread by a
//! `Send + Sync` handle ([`Pinned`]). The machinery [`TransactionHandle`] and [`Session`]
//! share.
//!
//! The value sits in its worker's registry (one thread-local map per kind, no lock); the
//! handle names it (the worker and an id). Each call runs there — inline when called on that
//! worker, through its mailbox otherwise — with its parameters encoded on the caller's thread.
//!
//! Ending: [`Pinned::end`] takes the value out of the registry and hands it to its ending
//! (`COMMIT`, `ROLLBACK`). A handle dropped without it takes the value out too — at once on
//! its worker, by a mailbox job elsewhere (in order after the drop of any call of the handle
//! still running there) — and drops it there: what that does is the value's own `Drop` (a
//! transaction queues `ROLLBACK`, a session resets its connection). An `end` whose future is
//! dropped leaves the same path.
//!
//! [`Client::begin`]: crate::Client::begin
//! [`Client::session`]: crate::Client::session
//! [`TransactionHandle`]: crate::TransactionHandle
//! [`Session`]: crate::Session

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;

use corelane_pg_proto::types::{Oid, ToSql};
use corelane_runtime::{dispatch, EventLoopProvider, WorkerLoop};

use crate::client::Outcome;
use crate::simple_query::SimpleQueryMessage;
use crate::statement::{Params, Statement};
use crate::to_statement::Target;
use crate::Error;

/// Ids of pinned values, unique in the process (whatever their kind).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A kind of value that lives in a worker's registry.
pub(crate) trait Pinnable: Sized + 'static {
    /// What a call gets on the worker to run its statements.
    type Runner: Runner;

    /// This kind's registry of the current thread.
    fn registry() -> &'static LocalKey<RefCell<HashMap<u64, Self>>>;

    /// A statement handle on this value.
    fn runner(&self) -> Self::Runner;

    /// The error of a call on a value that has ended (or whose worker stopped).
    fn ended() -> Error;
}

/// The statements of a pinned value, run on its worker (each checks the value is still live).
pub(crate) trait Runner: 'static {
    /// Describes `sql` for the handle's caller (see [`Descriptions`]).
    async fn describe(&self, sql: &str) -> Result<Statement, Error>;
    /// Describes `sql` again, with the types the connection looked up forgotten.
    async fn describe_fresh(&self, sql: &str) -> Result<Statement, Error>;
    /// Describes `sql` with its parameter types declared.
    async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error>;
    /// Runs `stmt` with its parameters already encoded.
    async fn run_encoded(&self, stmt: &Statement, encoded: &Params) -> Result<Outcome, Error>;
    /// Runs statements with the simple protocol.
    async fn batch_execute(&self, sql: &str) -> Result<(), Error>;
    /// Runs statements with the simple protocol; their results as text.
    async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error>;
}

/// Where a handle looks up the statements it described, on the caller's side (a statement
/// must be known there: its parameters are encoded there).
pub(crate) trait Descriptions {
    /// The statement known for `sql`, if any.
    fn get(&self, sql: &str) -> Option<Statement>;
    /// Remembers a described statement.
    fn remember(&self, stmt: &Statement);
    /// A statement run with `stmt`'s SQL failed with `e`.
    fn failed(&self, sql: &str, e: &Error);
}

/// The one worker a value lives on, as a provider for `dispatch`: inline on it, through its
/// mailbox from anywhere else.
struct OneWorker(WorkerLoop);

impl EventLoopProvider for OneWorker {
    fn num_workers(&self) -> usize {
        1
    }

    fn worker(&self, n: usize) -> Option<&WorkerLoop> {
        (n == 0).then_some(&self.0)
    }
}

/// Takes value `id` out of this worker's registry.
fn take<T: Pinnable>(id: u64) -> Option<T> {
    T::registry()
        .try_with(|open| open.borrow_mut().remove(&id))
        .ok()
        .flatten()
}

/// A statement handle on value `id` of this worker.
fn runner<T: Pinnable>(id: u64) -> Result<T::Runner, Error> {
    T::registry()
        .try_with(|open| open.borrow().get(&id).map(T::runner))
        .ok()
        .flatten()
        .ok_or_else(T::ended)
}

/// A `Send + Sync` handle on a value of kind `T` in one worker's registry; dropped while live,
/// it takes the value out and drops it on that worker (see the module docs).
pub(crate) struct Pinned<T: Pinnable> {
    worker: WorkerLoop,
    id: u64,
    /// False once ended through this handle (then dropping it does nothing).
    live: bool,
    /// `T` itself stays on its worker: the handle only names it.
    _kind: PhantomData<fn() -> T>,
}

impl<T: Pinnable> std::fmt::Debug for Pinned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinned")
            .field("worker", &self.worker.id())
            .field("id", &self.id)
            .finish()
    }
}

impl<T: Pinnable> Pinned<T> {
    /// Puts `value` in this worker's registry and returns its handle. Call it on a worker;
    /// made there, so that a handle whose caller is gone by then is dropped, ending the value.
    pub(crate) fn register(value: T) -> Result<Pinned<T>, Error> {
        let worker = WorkerLoop::current().ok_or_else(|| Error::runtime("ran off its worker"))?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        T::registry()
            .try_with(|registry| registry.borrow_mut().insert(id, value))
            .map_err(|_| Error::runtime("the worker is shutting down"))?;
        Ok(Pinned {
            worker,
            id,
            live: true,
            _kind: PhantomData,
        })
    }

    /// Runs `f` with a statement handle on the value, on its worker.
    pub(crate) async fn on_worker<R, F, Fut>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(T::Runner) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, Error>> + 'static,
    {
        let id = self.id;
        dispatch(&OneWorker(self.worker.clone()), 0, move || async move {
            f(runner::<T>(id)?).await
        })
        .await
        .map_err(Error::from)?
    }

    /// Takes the value out of the registry and runs `f` with it on its worker (its ending).
    /// The value is ended by this, whatever `f`'s outcome.
    pub(crate) async fn end<R, F, Fut>(&mut self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(T) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, Error>> + 'static,
    {
        let id = self.id;
        let result = dispatch(&OneWorker(self.worker.clone()), 0, move || async move {
            f(take::<T>(id).ok_or_else(T::ended)?).await
        })
        .await
        .map_err(Error::from);
        // Dropped before here, the handle drops whatever the work above did not take.
        self.live = false;
        result?
    }

    /// Runs `job` with a statement handle on the value on its worker, without waiting: at once
    /// on that worker, else by a mailbox job that runs before any call this thread makes next.
    /// Nothing runs when the value has ended.
    pub(crate) fn on_worker_now(&self, job: impl FnOnce(T::Runner) + Send + 'static) {
        let id = self.id;
        let run = move || {
            if let Ok(runner) = runner::<T>(id) {
                job(runner);
            }
        };
        if self.worker.is_current() {
            run();
        } else {
            // Refused only when the worker is closing: its connections go with it.
            let _ = self.worker.submit(run);
        }
    }

    /// Describes `sql` through `cache`; a statement not known there is described on the
    /// worker (see [`Runner::describe`]) and remembered.
    pub(crate) async fn prepare(
        &self,
        cache: &impl Descriptions,
        sql: &str,
    ) -> Result<Statement, Error> {
        if let Some(found) = cache.get(sql) {
            return Ok(found);
        }
        let owned = sql.to_owned();
        let stmt = self
            .on_worker(move |r| async move { r.describe(&owned).await })
            .await?;
        cache.remember(&stmt);
        Ok(stmt)
    }

    /// Describes `sql` with its parameter types declared (not remembered: see
    /// `Client::prepare_typed`).
    pub(crate) async fn prepare_typed(&self, sql: &str, types: &[Oid]) -> Result<Statement, Error> {
        let owned = sql.to_owned();
        let types = types.to_vec();
        self.on_worker(move |r| async move { r.prepare_typed(&owned, &types).await })
            .await
    }

    /// Runs one statement: its parameters are encoded here, the statement there.
    pub(crate) async fn run(
        &self,
        cache: &impl Descriptions,
        target: Target<'_>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Outcome, Error> {
        let stmt = match target {
            Target::Sql(sql) => self.prepare(cache, sql).await?,
            Target::Prepared(stmt) => stmt.clone(),
        };
        let (stmt, encoded) = match stmt.encode(params) {
            Ok(encoded) => (stmt, encoded),
            // A user type the statement was described with may have been dropped and created
            // again (see `Client::run_statement`). Nothing was sent: described afresh on the
            // value's connection, the statement is encoded again.
            Err(e) if stmt.describe_again_for(&e) => {
                let sql = stmt.sql.clone();
                let again = self
                    .on_worker(move |r| async move { r.describe_fresh(&sql).await })
                    .await?;
                cache.remember(&again);
                let encoded = again.encode(params)?;
                (again, encoded)
            }
            Err(e) => return Err(e),
        };
        let sql = stmt.sql.clone();
        let result = self
            .on_worker(move |r| async move { r.run_encoded(&stmt, &encoded).await })
            .await;
        if let Err(e) = &result {
            cache.failed(&sql, e);
        }
        result
    }

    /// Runs statements with the simple protocol.
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        let owned = sql.to_owned();
        self.on_worker(move |r| async move { r.batch_execute(&owned).await })
            .await
    }

    /// Runs statements with the simple protocol; their results as text.
    pub(crate) async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let owned = sql.to_owned();
        self.on_worker(move |r| async move { r.simple_query(&owned).await })
            .await
    }
}

impl<T: Pinnable> Drop for Pinned<T> {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let id = self.id;
        // Dropped outside the registry's borrow: the value's `Drop` may touch its connection.
        if self.worker.is_current() {
            drop(take::<T>(id));
        } else {
            // Refused only when the worker is closing: its connections go with it.
            let _ = self.worker.submit(move || drop(take::<T>(id)));
        }
    }
}
