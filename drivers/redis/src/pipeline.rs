//! Explicit pipelines: many commands, one write, replies in order.

use corelane_redis_proto::Cmd;
use corelane_runtime::SpareBuf;

use crate::classify::{classify, refusal, Class};
use crate::request::Request;
use crate::Error;

/// Commands sent together. Build it with the command methods (the same ones as on
/// [`Client`](crate::Client), chainable) or [`Pipeline::cmd`], then run it with
/// [`Client::pipeline`](crate::Client::pipeline), converting the replies at once into a tuple,
/// a `Vec`, or `Vec<Value>` to see each reply (server errors included) as it came.
///
/// ```
/// # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = corelane_testkit::RedisServer::start()?;
/// # let client = corelane_redis::Client::open(&server.url())?;
/// # futures_lite::future::block_on(async {
/// let mut pipe = corelane_redis::Pipeline::new();
/// pipe.set("a", 1).incr_by("a", 41).get("a");
/// let (_, _, a): ((), i64, i64) = client.pipeline(&pipe).await?;
/// assert_eq!(a, 42);
/// # Ok::<(), corelane_redis::Error>(())
/// # })?;
/// # Ok(()) }
/// ```
///
/// [`atomic`](Pipeline::atomic) wraps the commands in `MULTI`/`EXEC`: the result is then the
/// `EXEC` reply, and a transaction aborted by a changed `WATCH`ed key is
/// [`Error::is_exec_aborted`](crate::Error::is_exec_aborted).
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// From this thread's spare buffers (and back to them on drop): a pipeline built per call
    /// does not allocate its buffer each time.
    bytes: SpareBuf,
    commands: usize,
    atomic: bool,
    /// The first command added with [`Pipeline::cmd`] that is not plain (see classify.rs),
    /// with its class and the error that names it.
    special: Option<(Class, Error)>,
    /// Holds a `CLIENT TRACKING`/`CLIENT CACHING` (refused by a client that caches).
    pub(crate) changes_tracking: bool,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes it a transaction (`MULTI` … `EXEC`).
    pub fn atomic(&mut self) -> &mut Self {
        self.atomic = true;
        self
    }

    /// Adds any command. A command that would change a shared connection's state, or block it,
    /// makes [`Client::pipeline`](crate::Client::pipeline) refuse the whole pipeline (see
    /// [`Client::query`](crate::Client::query) for which ones).
    pub fn cmd(&mut self, cmd: Cmd) -> &mut Self {
        self.changes_tracking |= crate::cache::changes_tracking(&cmd);
        if self.special.is_none() {
            let class = classify(&cmd);
            if class != Class::Shared {
                let error = match class {
                    Class::Blocking => Error::refused(
                        b"a blocking command in a pipeline",
                        "it would hold the connection; send it alone with Client::query or use \
                         Client::with_connection",
                    ),
                    other => refusal(&cmd, other),
                };
                self.special = Some((class, error));
            }
        }
        self.add(cmd)
    }

    /// Why this pipeline may not run on a shared connection (`exclusive: false`) or on an
    /// exclusive one (`true`), if it may not.
    pub(crate) fn refusal(&self, exclusive: bool) -> Option<Error> {
        match &self.special {
            Some((class, _)) if exclusive && class.allowed_exclusive() => None,
            Some((_, error)) => Some(error.clone()),
            None => None,
        }
    }

    pub(crate) fn add(&mut self, cmd: Cmd) -> &mut Self {
        cmd.write_to(&mut self.bytes);
        self.commands += 1;
        self
    }

    /// How many commands it holds.
    pub fn len(&self) -> usize {
        self.commands
    }

    /// True when it holds no command.
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// Removes every command (keeping the buffer and the atomic flag).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.commands = 0;
        self.special = None;
    }

    pub(crate) fn request(&self) -> Request {
        // The call owns a copy (it may run on another worker, after `self` is gone), in a
        // spare buffer that goes back to the spares when the call is done with it.
        let mut bytes = SpareBuf::new();
        if self.atomic {
            bytes.reserve(self.bytes.len() + 32);
            Cmd::new("MULTI").write_to(&mut bytes);
            bytes.extend_from_slice(&self.bytes);
            Cmd::new("EXEC").write_to(&mut bytes);
            Request::Many {
                bytes,
                replies: self.commands + 2,
                atomic: true,
            }
        } else {
            bytes.extend_from_slice(&self.bytes);
            Request::Many {
                bytes,
                replies: self.commands,
                atomic: false,
            }
        }
    }
}
