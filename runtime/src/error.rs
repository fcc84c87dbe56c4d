//! Errors of the loop, the provider and the mailbox.

/// Why a loop could not be started or a worker could not be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused to set up an io_uring (too old, disabled by `kernel.io_uring_disabled`,
    /// or blocked by a seccomp profile such as Docker's default). glommio cannot run without it.
    #[error("io_uring is unavailable on this system ({reason}); corelane needs Linux >= 5.8 with io_uring allowed (Docker: --security-opt seccomp=unconfined)")]
    IoUringUnavailable {
        /// What the probe saw.
        reason: String,
    },
    /// A loop was asked for zero workers.
    #[error("a loop needs at least one worker")]
    NoWorkers,
    /// The executor of a worker could not be created or its thread could not be spawned.
    #[error("worker {worker} failed to start: {reason}")]
    WorkerStart {
        /// Index of the worker.
        worker: usize,
        /// What glommio or the OS reported.
        reason: String,
    },
    /// The worker is shutting down and takes no new connections.
    #[error("the worker is shutting down")]
    WorkerClosing,
    /// A call that must run on a worker thread ran elsewhere.
    #[error("this must be called on a corelane worker thread")]
    NotOnWorker,
}

/// Why a job could not be handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The worker has shut down (its loop was dropped); the job was dropped unrun.
    #[error("the worker has shut down")]
    WorkerClosed,
    /// The job or future panicked on the worker. The panic was caught there: the worker and
    /// its other tasks and connections live on.
    #[error(transparent)]
    Panicked(#[from] crate::Panicked),
    /// Work made to run on a worker (a [`Dispatch`](crate::Dispatch) built there) was moved
    /// to and polled from another thread, where its worker-bound state cannot be touched.
    #[error("work made on a worker was polled from another thread")]
    WrongThread,
}
