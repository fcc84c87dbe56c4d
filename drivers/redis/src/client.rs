//! The client's operations: construction, the connection check, commands and pipelines.
//! (The handle itself, what every call holds, is in `handle`.)

pub use crate::handle::Client;

use corelane_redis_proto::Cmd;
use corelane_runtime::{dispatch, resolve, Provider, ServerProvider};

use crate::call::{Call, Reply};
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::request::Request;
use crate::{Error, FromValue};

impl Client {
    /// A client for `url` (see [`Config::from_url`]) on the shared standalone loop. Connections
    /// open lazily, on first use, on each worker: nothing is checked here
    /// ([`check`](Self::check) and [`new_checked`](Self::new_checked) connect now).
    pub fn open(url: &str) -> Result<Client, Error> {
        Client::new(Config::from_url(url)?)
    }

    /// A client on the shared standalone loop (started if needed). Connections open lazily,
    /// on first use on each worker ([`new_checked`](Self::new_checked) connects once now).
    /// Fails when the TLS settings cannot be used (an unreadable CA or key file, nothing
    /// trusted): see [`Error::is_tls`]; or when [`Config::max_connections`] is below two per
    /// worker ([`Error::is_config`]).
    pub fn new(config: Config) -> Result<Client, Error> {
        let workers = resolve(None).map_err(Error::runtime)?;
        Client::from_parts(config, workers)
    }

    /// A client whose connections live on a thread-per-core server's own workers.
    pub fn with_server(config: Config, server: &dyn ServerProvider) -> Result<Client, Error> {
        let workers = resolve(Some(server)).map_err(Error::runtime)?;
        Client::from_parts(config, workers)
    }

    /// A client on `workers` (a cluster client makes one per node on its own workers).
    pub(crate) fn with_provider(config: Config, workers: Provider) -> Result<Client, Error> {
        Client::from_parts(config, workers)
    }

    /// [`new`](Self::new), then [`check`](Self::check): a client whose server was reached and
    /// accepted its credentials, or the error saying why not. For start-up code that should
    /// fail fast on a wrong password or an unreachable server.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), corelane_redis::Error> {
    /// use corelane_redis::{Client, Config};
    ///
    /// let client = Client::new_checked(Config::from_url("redis://:secret@cache.internal/0")?).await?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub async fn new_checked(config: Config) -> Result<Client, Error> {
        let client = Client::new(config)?;
        client.check().await?;
        Ok(client)
    }

    /// Opens one connection to the server on a worker, runs the handshake (`HELLO`/`AUTH`,
    /// `SELECT`, `CLIENT SETNAME`, the Sentinel lookup), sends a `PING` and closes it: `Ok`
    /// when the client can connect, else the reason — [`Error::is_connect`] (unreachable
    /// host, refused port, timeout after the connect timeout, a TLS failure),
    /// [`Error::is_auth`] (wrong or missing password, unknown user), or the server's error.
    /// The client's pooled connections still open lazily, as usual; this connection is not
    /// one of them (nor counted in [`Config::max_connections`]). Works on a worker of the
    /// loop and off it.
    pub async fn check(&self) -> Result<(), Error> {
        let config = self.config().clone();
        dispatch(
            &**self.workers(),
            || self.next_fallback(),
            move || async move {
                let conn = crate::connect::open(&config, None).await?;
                let pong = conn.query::<String>(&Cmd::new("PING")).await.map(drop);
                conn.pipe.close();
                pong
            },
        )
        .await
        .map_err(Error::from)?
    }

    /// Sends any command and converts its reply: `client.query::<String>(Cmd::new("GET").arg("k"))`.
    ///
    /// Calls share connections, so a command that would change the connection's state for
    /// everyone on it is not sent: `MULTI`/`EXEC`/`WATCH` (use [`transaction`](Self::transaction)
    /// or [`Pipeline::atomic`]), the `SUBSCRIBE` family (use [`subscriber`](Self::subscriber)),
    /// `SELECT` (use [`Config::db`](crate::Config::db)), `CLIENT REPLY`, `HELLO`, `AUTH`,
    /// `RESET`, `QUIT`, `MONITOR` and the like fail with [`Error::is_refused`]. Blocking
    /// commands (`BLPOP`, `BLMOVE`, `BZPOPMIN`, `XREAD … BLOCK`, `WAIT`, …) run on a connection
    /// of their own, without the command timeout; dropping the call closes that connection.
    pub fn query<T: FromValue>(&self, cmd: Cmd) -> Call<T> {
        Call::checked(self.clone(), cmd)
    }

    /// A typed command (known to leave no state behind, its reply kind known): no check.
    pub(crate) fn typed<T: FromValue>(&self, cmd: Cmd, reply: Reply) -> Call<T> {
        Call::new(self.route(&cmd).clone(), Request::One(cmd)).expecting(reply)
    }

    /// Sends a pipeline: all its commands in one write, the replies as one value (an array, or
    /// for an atomic pipeline the `EXEC` reply), converted to `T` — e.g. a tuple.
    ///
    /// A pipeline runs on a shared connection: one holding a command that [`query`](Self::query)
    /// refuses, or a blocking command, fails with [`Error::is_refused`] and nothing is sent.
    pub fn pipeline<T: FromValue>(&self, pipeline: &Pipeline) -> Call<T> {
        if let Some(e) = pipeline.refusal(false) {
            return Call::failed(self.clone(), e);
        }
        if pipeline.changes_tracking && self.config().cache.is_some() {
            return Call::failed(self.clone(), crate::cache::tracking_refusal());
        }
        Call::new(self.clone(), pipeline.request())
    }
}
