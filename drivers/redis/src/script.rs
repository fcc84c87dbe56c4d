//! Lua scripts run by their SHA1 (`EVALSHA`), sent in full (`EVAL`) only when the server's
//! script cache does not have them.

use std::future::Future;
use std::pin::Pin;

use corelane_redis_proto::{Cmd, ToArg, Value};

use crate::call::{Call, Reply};
use crate::cluster::{ClusterCall, ClusterClient, ClusterPipeline};
use crate::{Client, Error, Exclusive, FromValue, Pipeline};

/// A Lua script, with its SHA1 computed once.
///
/// [`invoke`](ScriptInvocation::invoke) sends `EVALSHA`; when the server answers `NOSCRIPT`
/// (the script cache was flushed, the server restarted, a failover), it sends the script once
/// with `EVAL` — which also caches it — and returns that reply. A server error raised by
/// the script itself (`redis.error_reply`, a runtime error) is an [`Error`] with the server's
/// code, as for any command.
///
/// It runs on a [`Client`], an [`Exclusive`] connection (inside a transaction or
/// [`Client::with_connection`]) and a [`ClusterClient`] (routed by its keys).
///
/// ```
/// # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = corelane_testkit::RedisServer::start()?;
/// # let client = corelane_redis::Client::open(&server.url())?;
/// # futures_lite::future::block_on(async {
/// use corelane_redis::Script;
///
/// // Build it once (e.g. in a `static` or at startup), invoke it many times.
/// let add = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
/// let total: i64 = add.key("counter").arg(5).invoke(&client).await?;
/// # let _ = total;
/// # Ok::<(), corelane_redis::Error>(())
/// # })?;
/// # Ok(()) }
/// ```
///
/// **In a pipeline** nothing can be retried on its own: [`Pipeline::invoke_script`] adds an
/// `EVALSHA`, whose reply is a `NOSCRIPT` error if the script is not cached. Put
/// [`Pipeline::load_script`] before it (one `SCRIPT LOAD` per pipeline, cheap), or load it
/// beforehand with [`Script::load`]; or send the source every time with
/// `pipe.eval(script.code(), keys, args)`.
///
/// ```
/// # // Runs against a throwaway redis-server (corelane-testkit, a dev-dependency).
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = corelane_testkit::RedisServer::start()?;
/// # let client = corelane_redis::Client::open(&server.url())?;
/// # futures_lite::future::block_on(async {
/// use corelane_redis::{Pipeline, Script};
///
/// let add = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
/// let mut pipe = Pipeline::new();
/// pipe.load_script(&add)
///     .invoke_script(&add.key("a").arg(1))
///     .invoke_script(&add.key("b").arg(2));
/// let (_sha, a, b): (String, i64, i64) = client.pipeline(&pipe).await?;
/// # let _ = (a, b);
/// # Ok::<(), corelane_redis::Error>(())
/// # })?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    code: String,
    hash: String,
}

impl Script {
    /// A script from its Lua source.
    pub fn new(code: &str) -> Script {
        Script {
            code: code.to_owned(),
            hash: sha1_smol::Sha1::from(code).digest().to_string(),
        }
    }

    /// The SHA1 of the source, in lowercase hex (what `EVALSHA` and `SCRIPT LOAD` use).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The Lua source.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// An invocation with `key` as its first key (`KEYS[1]`).
    pub fn key(&self, key: impl ToArg) -> ScriptInvocation<'_> {
        self.prepare_invoke().key(key)
    }

    /// An invocation with `arg` as its first argument (`ARGV[1]`).
    pub fn arg(&self, arg: impl ToArg) -> ScriptInvocation<'_> {
        self.prepare_invoke().arg(arg)
    }

    /// An invocation with no key or argument yet.
    pub fn prepare_invoke(&self) -> ScriptInvocation<'_> {
        ScriptInvocation {
            script: self,
            keys: Cmd::default(),
            args: Cmd::default(),
        }
    }

    /// Runs the script with no keys and no arguments (see [`ScriptInvocation::invoke`]).
    pub async fn invoke<T: FromValue, C: ScriptTarget>(&self, on: &C) -> Result<T, Error> {
        self.prepare_invoke().invoke(on).await
    }

    /// `SCRIPT LOAD`: caches the script on the server (the reply is its SHA1, equal to
    /// [`hash`](Self::hash)). Not needed before [`invoke`](ScriptInvocation::invoke); useful
    /// before pipelines. On a cluster client it is refused ([`Error::is_unroutable`]): load it
    /// through each node's own client.
    pub async fn load<C: ScriptTarget>(&self, on: &C) -> Result<String, Error> {
        let sha = on
            .send(Cmd::new("SCRIPT").arg("LOAD").arg(self.code.as_str()))
            .await?;
        String::from_value(sha)
    }
}

/// A script with its keys and arguments, ready to run: made by [`Script::key`],
/// [`Script::arg`] or [`Script::prepare_invoke`].
#[derive(Debug, Clone)]
pub struct ScriptInvocation<'a> {
    script: &'a Script,
    /// The keys, as arguments (no command name).
    keys: Cmd,
    args: Cmd,
}

impl ScriptInvocation<'_> {
    /// Adds a key (`KEYS[n]`). A list (`Vec`, slice, tuple) adds one key per element.
    #[must_use]
    pub fn key(mut self, key: impl ToArg) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds an argument (`ARGV[n]`). A list adds one argument per element.
    #[must_use]
    pub fn arg(mut self, arg: impl ToArg) -> Self {
        self.args.push(arg);
        self
    }

    /// `name first numkeys key... arg...` (`EVALSHA sha …` or `EVAL source …`).
    pub(crate) fn command(&self, name: &str, first: &str) -> Cmd {
        Cmd::new(name)
            .arg(first)
            .arg(self.keys.argc())
            .args(self.keys.iter_args())
            .args(self.args.iter_args())
    }

    /// Runs it: `EVALSHA`, then once `EVAL` if the server answered `NOSCRIPT`, and converts
    /// the reply.
    pub async fn invoke<T: FromValue, C: ScriptTarget>(&self, on: &C) -> Result<T, Error> {
        let script = self.script;
        let value = match on.send(self.command("EVALSHA", &script.hash)).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                on.send(self.command("EVAL", &script.code)).await?
            }
            other => other?,
        };
        T::from_value(value)
    }
}

impl Pipeline {
    /// Adds `SCRIPT LOAD` for `script` (its reply is the SHA1): put it before the
    /// [`invoke_script`](Self::invoke_script)s of a pipeline.
    pub fn load_script(&mut self, script: &Script) -> &mut Self {
        self.add(Cmd::new("SCRIPT").arg("LOAD").arg(script.code()))
    }

    /// Adds `EVALSHA` for `invocation`. Not retried: if the script is not cached, this
    /// command's reply is a `NOSCRIPT` error (see [`Script`] for how to load it first).
    pub fn invoke_script(&mut self, invocation: &ScriptInvocation<'_>) -> &mut Self {
        self.add(invocation.command("EVALSHA", invocation.script.hash()))
    }
}

impl ClusterPipeline {
    /// Adds `EVALSHA` for `invocation`, sent to the node of its keys. Not retried: the reply
    /// is a `NOSCRIPT` error if that node does not have the script cached (each node has its
    /// own cache; an [`invoke`](ScriptInvocation::invoke) through the
    /// [`ClusterClient`] with keys of that node caches it there).
    pub fn invoke_script(&mut self, invocation: &ScriptInvocation<'_>) -> &mut Self {
        self.add(invocation.command("EVALSHA", invocation.script.hash()))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Client {}
    impl Sealed for crate::Exclusive {}
    impl Sealed for crate::cluster::ClusterClient {}
}

/// Where a [`Script`] can run: [`Client`], [`Exclusive`], [`ClusterClient`]. (Sealed: the
/// crate implements it.)
pub trait ScriptTarget: sealed::Sealed {
    /// The pending reply of one command.
    #[doc(hidden)]
    type Reply: Future<Output = Result<Value, Error>>;

    /// Sends one scripting command (error replies come back as `Err`).
    #[doc(hidden)]
    fn send(&self, cmd: Cmd) -> Self::Reply;
}

impl ScriptTarget for Client {
    type Reply = Call<Value>;

    fn send(&self, cmd: Cmd) -> Call<Value> {
        self.typed(cmd, Reply::Any)
    }
}

impl ScriptTarget for ClusterClient {
    type Reply = ClusterCall<Value>;

    fn send(&self, cmd: Cmd) -> ClusterCall<Value> {
        self.typed(cmd, Reply::Any)
    }
}

impl ScriptTarget for Exclusive {
    type Reply = Pin<Box<dyn Future<Output = Result<Value, Error>>>>;

    fn send(&self, cmd: Cmd) -> Self::Reply {
        // A clone of the connection (cheap): the future does not borrow `self`.
        let conn = self.clone();
        Box::pin(async move { conn.typed(cmd, Reply::Any).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_commands() {
        // `echo -n "return 1" | sha1sum`
        let script = Script::new("return 1");
        assert_eq!(script.hash(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let inv = script.key("k1").key(["k2", "k3"]).arg(7).arg("x");
        let cmd = inv.command("EVALSHA", script.hash());
        let args: Vec<&[u8]> = cmd.iter_args().collect();
        assert_eq!(
            args,
            [
                &b"EVALSHA"[..],
                script.hash().as_bytes(),
                b"3",
                b"k1",
                b"k2",
                b"k3",
                b"7",
                b"x"
            ]
        );
        let two = Script::new("return 2");
        assert_eq!(two.prepare_invoke().command("EVAL", two.code()).argc(), 3);
    }
}
