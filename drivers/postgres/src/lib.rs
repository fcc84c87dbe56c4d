//! corelane-postgres: a pipelined PostgreSQL client for thread-per-core services, on
//! corelane-runtime.
//!
//! ```
//! # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::PgServer::start()?;
//! # let url = server.url();
//! use corelane_postgres::Client;
//!
//! let client = Client::connect(&url)?; // e.g. "postgres://postgres@127.0.0.1:5432/postgres"
//! futures_lite::future::block_on(async {
//!     let row = client.query_one("SELECT $1::int4 + 1 AS n", &[&41i32]).await?;
//!     let n: i32 = row.get("n")?;
//!     assert_eq!(n, 42);
//!
//!     // Three statements, one round trip, one Sync.
//!     let outcomes = client
//!         .pipeline(&[("SELECT $1::int4", &[&1i32]), ("SELECT $1::int4", &[&2i32]), ("SELECT 3", &[])])
//!         .await?;
//!     assert_eq!(outcomes.len(), 3);
//!     Ok::<(), corelane_postgres::Error>(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Per-core connections.** Each worker keeps its own connection(s); a query on a worker uses
//!   that worker's connection, a query elsewhere (tokio, plain threads) runs on a worker through
//!   its mailbox. Concurrent queries on one worker are pipelined on its connection.
//! - **Statements.** Queries with parameters use the extended protocol: the client describes a
//!   SQL text once per worker (parameter types, result columns; a bounded LRU per thread, no
//!   lock), and each connection prepares it on first use and keeps it in an LRU cache
//!   (re-preparing once if the server lost it, SQLSTATE 26000). Rows are decoded with the
//!   columns the server reported for the statement on that connection, so after DDL changes
//!   a statement's result (`ALTER TABLE ... ADD COLUMN` under a `SELECT *`) the statement is
//!   described again and the call retried once, and no value is read with a stale type.
//!   Steady state: one round trip per query. Results come in binary where a decoder exists,
//!   as text otherwise.
//!   Every query method takes SQL text or a prepared [`Statement`] ([`ToStatement`]); a
//!   statement from [`Client::prepare`] or [`Client::prepare_typed`] (parameter types
//!   declared) runs as it is on any worker or thread. [`Client::simple_query`] returns the
//!   simple protocol's results as text. [`GenericClient`] is one façade over [`Client`],
//!   [`Transaction`], [`TransactionHandle`] and [`Session`], for application code written once.
//! - **Pipelines.** [`Client::pipeline`] sends N statements with one `Sync` — one round trip —
//!   and reports each statement's own outcome (see its docs for a failure mid-batch).
//! - **Transactions** ([`Client::transaction`]) run a closure on a connection of their own,
//!   checked out of a per-worker pool of exclusive connections (the shared ones interleave
//!   other callers' statements): `BEGIN` with [`TransactionOptions`], `COMMIT` on `Ok`,
//!   `ROLLBACK` on `Err` or when the future is dropped, nested savepoints
//!   ([`Transaction::savepoint`]), and a refused `COMMIT` reported as such
//!   ([`Error::is_commit_failed`]). [`Client::try_transaction`] (and
//!   [`Transaction::try_savepoint`], [`Session::try_transaction`]) take a closure that fails
//!   with the application's own error type (`E: From<Error>`), returned unchanged after the
//!   rollback. A connection goes back to that pool reset (`DISCARD ALL`),
//!   so one transaction's `SET`, `LISTEN` or temp tables never reach the next.
//!   [`Client::begin`] gives the same transaction as a value ([`TransactionHandle`]: `commit`,
//!   `rollback`, rolled back when dropped), usable on a worker and off the loop.
//! - **Sessions** ([`Client::session`], [`Client::with_session`]): one exclusive connection
//!   with no transaction opened for you, where `SET`, `search_path`, temporary tables,
//!   advisory locks and `PREPARE` stick across calls ([`Session`]); reset before its next user
//!   once dropped. What is and is not shared between calls: see [`Client`].
//! - **Errors** carry the SQLSTATE and every field the server sent ([`Error::as_db_error`]).
//!   A broken connection gives [`Error::is_closed`] to the calls whose statements were on it.
//!   A statement on the shared connections that finds its connection closed before anything
//!   of it was sent (the server or a proxy dropped it while it sat idle) goes to a new
//!   connection instead of failing; a statement that was sent is never sent again.
//! - **Timeouts and cancellation** ([`Config::query_timeout`], [`Client::with_query_timeout`]):
//!   a call past its timeout fails with [`Error::is_timeout`], and its statement is cancelled
//!   on the server (`CancelRequest`) only when that cannot hit another caller's statement on
//!   the pipelined connection; the connection then drains to `ReadyForQuery` and serves on,
//!   or is closed and replaced. A call dropped on a worker is cancelled the same way.
//!
//! - **COPY** ([`Client::copy_in`], [`Client::copy_out`]) runs on an exclusive connection
//!   too: `COPY ... FROM STDIN` from a stream of bytes (with [`copy_text_row`] and
//!   [`CopyBinary`] to format rows), a failing source aborting it with `CopyFail`; `COPY ... TO
//!   STDOUT` as a stream, in bounded memory. A stalled server fails a copy after
//!   [`Config::copy_timeout`]; a dropped copy is aborted at once.
//! - **Big results.** A collected result (`query`, …) is capped by
//!   [`Config::max_result_bytes`] (256 MiB by default; past it the call fails with
//!   [`Error::is_result_too_large`] and the connection serves on); [`Client::query_stream`]
//!   streams rows of any number in bounded memory, holding the server back while the consumer
//!   is behind.
//! - **Notices** go to [`Config::on_notice`] (dropped without one).
//!
//! # Connection strings
//!
//! [`Config::parse`] (and [`Client::connect`]) take libpq's two forms:
//! `host=db.example port=5432 dbname=app user=me password='with \' quote'` (single quotes
//! around values with spaces, a backslash escapes the next character) and
//! `postgres://me:secret@db.example:5432/app?application_name=api` (or `postgresql://`;
//! percent-decoded, any keyword as a query parameter). Unknown keywords are an error, as in
//! libpq.
//!
//! **Honoured:** `host` (a name, an IP address, or — starting with `/` — a Unix-socket
//! directory: the socket is `<dir>/.s.PGSQL.<port>`; in a URL write it percent-encoded,
//! `postgres://%2Fvar%2Frun%2Fpostgresql/app`, or as `postgres:///app?host=/var/run/postgresql`),
//! `hostaddr` (a numeric address connected to without a name lookup), `port` — each of the
//! three a comma-separated list for [several hosts](#several-hosts) —, `dbname`,
//! `user`, `password`, `passfile`, `application_name`, `fallback_application_name`,
//! `options`, `connect_timeout` (seconds, per host tried; 0 or negative waits indefinitely, 1
//! means 2, as in libpq), `client_encoding` (`UTF8` or `auto` only: rows are decoded as
//! UTF-8), `target_session_attrs` and `load_balance_hosts` (see
//! [several hosts](#several-hosts)), `keepalives` (TCP keepalive is on unless
//! `keepalives=0`), `keepalives_idle`, `keepalives_interval`, `keepalives_count` (0 or
//! unset: the system default), `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslnegotiation`, `channel_binding` (see [TLS](#tls)), and the driver's
//! own `statement_cache_size`, `connections_per_worker`, `max_connections`,
//! `exclusive_per_worker`, `acquire_timeout_ms` (see [connection budget](#connection-budget)),
//! `query_timeout_ms`, `copy_timeout_ms`, `max_result_bytes`. Cancel requests of a
//! Unix-socket connection go to the same socket.
//!
//! **Accepted and ignored** (listed by [`Config::ignored_keys`], with a line each in
//! [`Config::notes`]): `krbsrvname`, `gsslib`, `gssdelegation`, `gssencmode` (`require` is
//! refused), `requirepeer`, `require_auth`, `tcp_user_timeout`,
//! `replication` (a false value; any other is refused), `sslcompression`, `sslcrl`,
//! `sslcrldir`, `sslsni`, `ssl_min_protocol_version`, `ssl_max_protocol_version`,
//! `sslpassword` (encrypted client keys are not supported: `sslkey` must be unencrypted).
//! `sslcertmode` is honoured for `disable` and `allow` (the default).
//!
//! **Refused with a clear error for now:** `service` (no `pg_service.conf`),
//! `sslcertmode=require` (rustls does not tell whether the server asked for the
//! certificate).
//!
//! Without `sslcert`/`sslkey`, `~/.postgresql/postgresql.crt` and `postgresql.key` are
//! presented when both exist, and `~/.postgresql/root.crt` is trusted when it exists, as in
//! libpq.
//!
//! **Environment.** `Config::parse` fills what the string does not say from libpq's
//! variables — `PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`,
//! `PGPASSFILE`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGOPTIONS`, `PGCLIENTENCODING`,
//! `PGTARGETSESSIONATTRS`, `PGSERVICE`, the `PGSSL*`, `PGGSS*`, `PGCHANNELBINDING`,
//! `PGREQUIREPEER`, `PGREQUIREAUTH`, `PGKRBSRVNAME` and `PGLOADBALANCEHOSTS` ones — each
//! handled exactly like its keyword (an invalid value is an error naming the variable). A
//! keyword in the string wins over its variable, which wins over the built-in default
//! (host `127.0.0.1`, port 5432, user `postgres`, database = user, connect timeout 10 s).
//! [`Config::parse_with_env`] takes the lookup as a function (tests, or `|_| None` for no
//! environment); the builder ([`Config::default`] and its setters) reads nothing.
//!
//! **Password file.** When no password is given (an empty one counts as none), the parse
//! looks in `passfile`, else `PGPASSFILE`, else `$HOME/.pgpass`: lines
//! `hostname:port:database:username:password`, `*` matching anything in the first four
//! fields, `\:` and `\\` for a literal colon and backslash, `#` comment lines, the first
//! matching line winning. A Unix-socket connection (and the default host) also matches
//! `localhost`. A file that group or others may access (anything beyond `0600`) is skipped,
//! with a note in [`Config::notes`], as libpq does.
//!
//! ## Several hosts
//!
//! As in libpq 16: `host=db1,db2,db3 port=5432,5433,5434` (one port applies to every host;
//! otherwise there must be one per host, else a configuration error such as `could not match
//! 2 port numbers to 3 hosts`), `hostaddr` lists likewise, and URLs
//! `postgres://db1:5432,db2:5433/app`; the builder has [`Config::add_host`] and
//! [`Config::hosts`]. Every new connection of the client — each worker's shared and
//! transaction connections, every reconnect, [`Client::check`], a [`Listener`]'s — tries the
//! hosts in order (shuffled per connection with `load_balance_hosts=random`,
//! [`LoadBalanceHosts`]) until one accepts it and is what `target_session_attrs` asks for:
//! `any` (the default), `read-write`, `read-only`, `primary`, `standby` or `prefer-standby`
//! (a standby if any host is one, else any host), tested as libpq does
//! ([`TargetSessionAttrs`]). A host that cannot be reached, times out (`connect_timeout`
//! bounds each host's attempt), answers `57P03` (starting up, shutting down) or does not fit
//! is skipped; any other error (a wrong password, a TLS failure) ends the connect, as in libpq.
//! When no host can be used the error says why for each ([`Error::is_no_suitable_host`],
//! [`Error::host_rejections`]). So after a failover a `read-write` client's new connections
//! find the promoted primary; statements in flight on the lost connection fail once with
//! [`Error::is_closed`]. The password file is looked up per host and port.
//!
//! ```no_run
//! # fn demo() -> Result<(), corelane_postgres::Error> {
//! use corelane_postgres::{Client, Config, TargetSessionAttrs};
//!
//! let client = Client::connect(
//!     "host=db1.example,db2.example port=5432 dbname=app target_session_attrs=read-write",
//! )?;
//! // The same with the builder:
//! let config = Config::default()
//!     .add_host("db1.example", 5432)
//!     .add_host("db2.example", 5432)
//!     .dbname("app")
//!     .target_session_attrs(TargetSessionAttrs::ReadWrite);
//! # let _ = (client, config); Ok(()) }
//! ```
//!
//! **Failing fast.** Clients connect lazily, on first use on each worker.
//! [`Client::check`] (or [`Client::new_checked`]) opens and authenticates one connection
//! now, so a wrong password ([`Error::is_auth`]) or an unreachable server
//! ([`Error::is_connect`]) shows at start-up.
//!
//! # Connection budget
//!
//! Each worker keeps its own pools — shared (pipelined) connections for queries, exclusive
//! ones for transactions, COPY and row streams — so one client's connections grow with the
//! machine. [`Config::max_connections`] bounds the client's total (`max_connections` in a
//! connection string), split once over the workers so that no call counts anything across
//! workers; by default `min(workers × (connections_per_worker + 4), 90)`, at least two per
//! worker, which a default server (`max_connections = 100`) accepts beside psql and
//! monitoring on machines of up to 45 workers. A call that finds its worker's pool full
//! waits its turn ([`ConnectionCounts::waiting`] in [`Client::stats`]) for up to
//! [`Config::acquire_timeout`] (30 s by default; `acquire_timeout_ms`), then fails with
//! [`Error::is_pool_timeout`] naming the pool ([`PoolKind`]).
//! [`Config::exclusive_per_worker`] (default 10) caps a worker's exclusive pool within its
//! share.
//!
//! # TLS
//!
//! TLS is configured as in libpq: `sslmode` (`disable`, `allow`, `prefer` — the default —,
//! `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or `system` for the
//! operating system's roots, which implies `verify-full`), `sslcert`/`sslkey` (a client
//! certificate), `sslnegotiation` (`postgres`, or `direct` for PostgreSQL 17's TLS without
//! `SSLRequest`) and `channel_binding` (`disable`, `prefer` — the default —, `require`:
//! SCRAM-SHA-256-PLUS with `tls-server-end-point`, which ties the password exchange to the
//! TLS connection). To verify the server against your CA and its host name:
//!
//! ```no_run
//! # fn main() -> Result<(), corelane_postgres::Error> {
//! let client = corelane_postgres::Client::connect(
//!     "postgres://u:p@host/db?sslmode=verify-full&sslrootcert=ca.pem",
//! )?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! or with the builder: [`Config::ssl_mode`], [`Config::ssl_root_cert`],
//! [`Config::channel_binding`], …. Cancel requests go over TLS when their connection does. A
//! failed handshake (expired certificate, wrong host, unknown issuer) is
//! [`Error::is_tls`], with the reason in [`Error::tls_error`]; a server without TLS under
//! `require` is [`Error::is_ssl_not_supported`]; an unmet `channel_binding=require` is
//! [`Error::is_channel_binding`].
//!
//! # Types
//!
//! Parameters are any [`ToSql`], columns are read with [`Row::get`] into any [`FromSql`]; both
//! use PostgreSQL's binary format, for every column (only [`Client::simple_query`] reads
//! text). Everything a program names is here: the [`types`] module (the traits, the bundled
//! types, [`Type`], [`Kind`], [`IsNull`], [`TypeError`], [`Oid`]), the [`to_sql_checked!`],
//! [`pg_enum!`] and [`pg_composite!`] macros and [`bytes`] for your own impls — no direct
//! dependency on `corelane-pg-proto` is needed. A conversion error is [`Error::is_type`], with
//! the codec's [`TypeError`] in [`Error::as_type_error`]; it names the PostgreSQL type
//! (`timestamptz`, `app.mood`).
//!
//! A type without a bundled codec (`money`, `point`, an extension's type) is read
//! through your own [`FromSql`], or cast to `text` in SQL: `String` reads text types,
//! `citext` and enums only. (Before every column came in binary, such columns came as text and read as
//! `String`.)
//!
//! To send such a value, wrap its text form in [`types::Text`]: it is sent in text format
//! and the server parses it with the type's input function (a malformed one fails there,
//! SQLSTATE 22P02). It is a whole parameter only (not an array element or range bound), and
//! `Option<Text<_>>` sends NULL.
//!
//! ```
//! # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::PgServer::start()?;
//! # let client = corelane_postgres::Client::connect(&server.url())?;
//! # futures_lite::future::block_on(async {
//! use corelane_postgres::types::Text;
//!
//! let row = client
//!     .query_one("SELECT $1::point::text", &[&Text("(1,2)")])
//!     .await?;
//! assert_eq!(row.get::<String>(0)?, "(1,2)");
//! # Ok::<(), corelane_postgres::Error>(())
//! # })?;
//! # Ok(()) }
//! ```
//!
//! ```
//! use corelane_postgres::bytes::BytesMut;
//! use corelane_postgres::types::{IsNull, ToSql, Type, TypeError};
//! use corelane_postgres::to_sql_checked;
//!
//! /// An amount in cents, sent as `int8`.
//! struct Cents(i64);
//!
//! impl ToSql for Cents {
//!     fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
//!         self.0.to_sql(ty, out)
//!     }
//!     fn accepts(ty: &Type) -> bool {
//!         *ty == Type::INT8
//!     }
//!     to_sql_checked!();
//! }
//!
//! let mut buf = BytesMut::new();
//! assert_eq!(Cents(5).to_sql_checked(&Type::INT8, &mut buf), Ok(IsNull::No));
//! let e = Cents(5).to_sql_checked(&Type::TEXT, &mut buf).unwrap_err();
//! assert!(matches!(e, TypeError::WrongType { .. }));
//! assert!(e.to_string().ends_with("PostgreSQL type text"));
//! ```
//!
//! ## Your own types
//!
//! Codecs receive the [`Type`] of the column or parameter: its name, OID, schema and
//! [`Kind`] (`Simple`, `Enum(labels)`, `Composite(fields)`, `Domain(base)`, `Array(element)`,
//! `Range(subtype)`, `Pseudo`). Built-in types are constants ([`Type::INT4`]); a type that is
//! not built in is looked up in the catalogs (`pg_type`, `pg_enum`, `pg_attribute`,
//! `pg_range`, with the types it refers to) once per connection, when a statement that uses
//! it is described, and kept by that connection; the [`Statement`] then carries it to any
//! thread, connection or pipeline.
//!
//! - An enum maps by label with [`pg_enum!`]; any enum also reads and writes as `String`/`&str`.
//! - A composite maps field by field (by name) with [`pg_composite!`], in the binary record
//!   format; [`types::RecordReader`] and [`types::RecordWriter`] do it by hand.
//! - A domain is read and written as its base type (an `i32` for a domain over `int4`).
//! - Arrays of any of them are `Vec<T>` or [`types::Array<T>`].
//! - Your own error in an impl: [`TypeError::other`].
//!
//! After DDL: a type dropped and created again gets a new OID, which is looked up afresh;
//! statements described with the old one are described again, once (the server's "cache
//! lookup failed for type", or a parameter the old labels or fields refuse, triggers it). A
//! statement described again looks its types up again, so an enum that gained a label in
//! place (`ALTER TYPE … ADD VALUE`, same OID) takes the new value. A composite altered in
//! place is not noticed when reading with a statement already described: its values no longer
//! fit the description, which is a [`TypeError`], never a misread.
//!
//! ```
//! # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
//! use corelane_postgres::{pg_composite, pg_enum, Client, Error};
//!
//! pg_enum! {
//!     /// `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`
//!     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
//!     pub enum Mood as "mood" {
//!         Sad => "sad",
//!         Ok => "ok",
//!         Happy => "happy",
//!     }
//! }
//!
//! pg_composite! {
//!     /// `CREATE TYPE item AS (id int4, name text, mood mood)`
//!     #[derive(Debug, Clone, PartialEq)]
//!     pub struct Item as "item" {
//!         pub id: i32,
//!         pub name: Option<String>,
//!         pub mood: Mood,
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = corelane_testkit::PgServer::start()?;
//! # let client = corelane_postgres::Client::connect(&server.url())?;
//! # let client = &client;
//! # futures_lite::future::block_on(async {
//! # client.batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); CREATE TYPE item AS (id int4, name text, mood mood)").await?;
//! let item = Item { id: 1, name: Some("one".into()), mood: Mood::Happy };
//! let row = client
//!     .query_one("SELECT $1::item, $2::mood[]", &[&item, &vec![Mood::Sad, Mood::Ok]])
//!     .await?;
//! assert_eq!(row.get::<Item>(0)?, item);
//! assert_eq!(row.get::<Vec<Mood>>(1)?, [Mood::Sad, Mood::Ok]);
//! assert_eq!(row.columns()[0].type_().name(), "item");
//! # Ok::<(), corelane_postgres::Error>(())
//! # })?;
//! # Ok(()) }
//! ```
//!
//! Popular crates' types come with cargo features of this crate (none is on by default), as
//! in `postgres-types`:
//!
//! ```toml
//! corelane-postgres = { version = "0.1", features = ["uuid", "chrono", "serde_json", "rust_decimal"] }
//! ```
//!
//! | Rust | PostgreSQL | Feature |
//! |---|---|---|
//! | `bool` | `bool` | |
//! | `i8` | `"char"` | |
//! | `i16`, `i32`, `i64` | `int2`, `int4`, `int8` | |
//! | `u32` | `oid` | |
//! | `f32`, `f64` | `float4`, `float8` | |
//! | `String`, `&str` | `text`, `varchar`, `name`, `bpchar`, `unknown`, `citext`, enums (the label) | |
//! | `Vec<u8>`, `&[u8]`, `Bytes` | `bytea` | |
//! | [`types::Uuid`] | `uuid` | |
//! | `std::net::IpAddr`, `Ipv4Addr`, `Ipv6Addr` (a single host) | `inet`, `cidr` | |
//! | [`types::Inet`] (address and netmask: `10.1.2.3/24`) | `inet`, `cidr` | |
//! | [`types::MacAddr`], [`types::MacAddr8`] | `macaddr`, `macaddr8` | |
//! | [`types::Json`] (the document's text) | `json`, `jsonb` | |
//! | [`types::Numeric`] (exact decimal text, `NaN`, `±Infinity`) | `numeric` | |
//! | [`types::Date`], [`types::Time`], [`types::Timestamp`], [`types::TimestampTz`], [`types::Interval`] (with `±infinity`) | `date`, `time`, `timestamp`, `timestamptz`, `interval` | |
//! | `uuid::Uuid` | `uuid` | `uuid` |
//! | `chrono::NaiveDate` | `date` | `chrono` |
//! | `chrono::NaiveTime` | `time` | `chrono` |
//! | `chrono::NaiveDateTime` | `timestamp` | `chrono` |
//! | `chrono::DateTime<Utc>`, `DateTime<FixedOffset>`, `DateTime<Local>` | `timestamptz` | `chrono` |
//! | `time::Date` | `date` | `time` |
//! | `time::Time` | `time` | `time` |
//! | `time::PrimitiveDateTime` | `timestamp` | `time` |
//! | `time::OffsetDateTime` | `timestamptz` | `time` |
//! | `serde_json::Value` | `json`, `jsonb` | `serde_json` |
//! | `types::JsonOf<T>` (`T: Serialize` to send, `T: Deserialize` to read) | `json`, `jsonb` | `serde_json` |
//! | `rust_decimal::Decimal` | `numeric` | `rust_decimal` |
//! | `cidr::IpInet`, `cidr::IpCidr` | `inet`, `cidr` | `cidr` |
//! | `ipnetwork::IpNetwork`, `Ipv4Network`, `Ipv6Network` | `inet`, `cidr` | `ipnetwork` |
//! | `bit_vec::BitVec` | `bit`, `varbit` | `bit-vec` |
//! | `Vec<T>` (1-D), [`types::Array<T>`] (up to 6 dimensions) of any of the above | arrays of the element type | as the element's |
//! | [`types::Range<T>`] (empty, or each bound inclusive, exclusive or unbounded; `From` Rust's `a..b`, `a..=b`, `a..`, …) | `int4range`, `int8range`, `numrange`, `daterange`, `tsrange`, `tstzrange`, user-defined ranges (of `T`'s type) | as the element's |
//! | `Option<T>` | NULL | |
//!
//! A value that the Rust type cannot hold is a typed error ([`Error::is_type`], from a
//! [`TypeError`]), never a silent rounding: `infinity` read into a chrono or time type
//! ([`TypeError::NotFinite`]), `NaN` or more than 28 fractional digits into a `Decimal`, a
//! date before 4714 BC sent (refused before it is sent), `24:00:00` into a `NaiveTime`, a
//! network such as `'10.1.2.0/24'::cidr` into an `IpAddr` ([`TypeError::Unrepresentable`]:
//! read it as [`types::Inet`]; the netmask is never dropped silently), an `Inet` with host
//! bits sent as `cidr` (refused before it is sent).
//! Sub-microsecond parts of chrono and time values are dropped (floored), as PostgreSQL keeps
//! microseconds. `timestamptz` carries an instant and no offset: `DateTime<FixedOffset>` and
//! `OffsetDateTime` read back in UTC, `DateTime<Local>` in the local zone.

mod attempts;
mod budget;
mod cancel;
mod cancel_gate;
mod client;
mod codec;
mod config;
mod connection;
mod conninfo;
mod copy;
mod data_rows;
mod described;
mod endpoint;
mod error;
mod exclusive;
mod execute;
mod generic_client;
mod handle_savepoint;
mod handshake;
mod host_select;
mod hosts;
mod listen;
mod password;
mod pgpass;
mod pinned;
mod pipeline;
mod prepare_typed;
mod pump_chan;
mod report;
mod row;
mod row_stream;
mod session;
mod session_handle;
mod simple_query;
mod statement;
mod statement_cache;
mod tls;
mod to_statement;
mod trace;
mod transaction;
mod transaction_handle;
mod transport;
mod type_cache;
mod type_lookup;
mod worker_state;

pub use client::{Client, Outcome};
pub use config::{Config, NoticeCallback, Password, TargetSessionAttrs};
pub use copy::{copy_text_row, CopyBinary, CopyOutStream};
/// The `bytes` crate, for [`ToSql::to_sql`]'s `BytesMut` in your own impls.
#[doc(no_inline)]
pub use corelane_pg_proto::bytes;
pub use corelane_pg_proto::types;
pub use corelane_pg_proto::types::oid;
pub use corelane_pg_proto::types::{Field, FromSql, IsNull, Kind, Oid, ToSql, Type, TypeError};
pub use corelane_pg_proto::SqlState;
pub use corelane_pg_proto::{pg_composite, pg_enum, to_sql_checked};
/// The reports of [`Client::stats`] and [`Client::health`].
pub use corelane_runtime::client::{ConnectionCounts, Health, Stats, WorkerHealth, WorkerStats};
pub use corelane_runtime::pool::PoolKind;
pub use corelane_runtime::roundtrip::PipeStats;
pub use error::{DbError, Error, HostRejection};
pub use generic_client::GenericClient;
pub use handle_savepoint::Savepoint;
pub use hosts::{Host, LoadBalanceHosts};
pub use listen::{Listener, ListenerOptions, Notification};
pub use row::{ColumnIndex, Row};
pub use row_stream::RowStream;
pub use session_handle::Session;
pub use simple_query::{SimpleQueryMessage, SimpleQueryRow};
pub use statement::{Column, Statement};
pub use tls::{ChannelBinding, SslMode, SslNegotiation};
pub use to_statement::ToStatement;
pub use transaction::{IsolationLevel, Transaction, TransactionOptions};
pub use transaction_handle::TransactionHandle;
