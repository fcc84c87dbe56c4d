//! PostgreSQL workloads for corelane-postgres, tokio-postgres and xitca-postgres.

use std::future::Future;
use std::sync::Arc;

use corelane_postgres::ToSql;

use crate::measure::{self, Sample, Timing};
use crate::{At, Ctx, Workload};

/// The single-value query.
pub const SELECT1: &str = "SELECT $1::int";
/// The 1000-row query.
pub const ROWS: &str =
    "SELECT g::int4, ('row-'||g)::text, (g*0.5)::float8 FROM generate_series(1,1000) g";
/// Rows it returns.
pub const ROWS_N: usize = 1000;
/// Queries per pipelined batch.
pub const PIPE: usize = 64;
const SERVER: &str = "postgres";

/// The PostgreSQL clients measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgClient {
    Corelane,
    /// corelane on a loop of one worker (when the main loop has more): the other CPUs are
    /// left to the server, as the peers' current-thread runtimes leave them.
    CorelaneOneWorker,
    CorelaneOffloop,
    /// The off-loop calls through a loop of one worker: the other CPU is left to the
    /// caller's tokio threads (and the server).
    CorelaneOffloopOneWorker,
    TokioPgCurrentThread,
    TokioPgMultiThread2,
    TokioPgMultiThread2Conns2,
    TokioPgCurrentThreadConns2,
    XitcaCurrentThread,
    XitcaMultiThread2,
    XitcaCurrentThreadConns2,
    XitcaMultiThread2Conns2,
}

impl PgClient {
    pub const ALL: [PgClient; 12] = [
        PgClient::Corelane,
        PgClient::CorelaneOneWorker,
        PgClient::CorelaneOffloop,
        PgClient::CorelaneOffloopOneWorker,
        PgClient::TokioPgCurrentThread,
        PgClient::TokioPgMultiThread2,
        PgClient::TokioPgCurrentThreadConns2,
        PgClient::TokioPgMultiThread2Conns2,
        PgClient::XitcaCurrentThread,
        PgClient::XitcaMultiThread2,
        PgClient::XitcaCurrentThreadConns2,
        PgClient::XitcaMultiThread2Conns2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PgClient::Corelane => "corelane",
            PgClient::CorelaneOneWorker => "corelane-1w",
            PgClient::CorelaneOffloop => "corelane-offloop",
            PgClient::CorelaneOffloopOneWorker => "corelane-offloop-1w",
            PgClient::TokioPgCurrentThread => "tokio-postgres-ct",
            PgClient::TokioPgMultiThread2 => "tokio-postgres-mt2",
            PgClient::TokioPgMultiThread2Conns2 => "tokio-postgres-mt2-2conn",
            PgClient::TokioPgCurrentThreadConns2 => "tokio-postgres-ct-2conn",
            PgClient::XitcaCurrentThread => "xitca-postgres-ct",
            PgClient::XitcaMultiThread2 => "xitca-postgres-mt2",
            PgClient::XitcaCurrentThreadConns2 => "xitca-postgres-ct-2conn",
            PgClient::XitcaMultiThread2Conns2 => "xitca-postgres-mt2-2conn",
        }
    }

    /// Whether this client is worth a line on `workload`: two connections only matter with
    /// more than one task; xitca-postgres is built without its `tls` feature (which brings
    /// its own rustls stack, xitca-tls), so it sits out the TLS row.
    pub fn applies(self, workload: Workload) -> bool {
        let two = matches!(
            self,
            PgClient::TokioPgMultiThread2Conns2
                | PgClient::TokioPgCurrentThreadConns2
                | PgClient::XitcaCurrentThreadConns2
                | PgClient::XitcaMultiThread2Conns2
        );
        let xitca = matches!(
            self,
            PgClient::XitcaCurrentThread
                | PgClient::XitcaMultiThread2
                | PgClient::XitcaCurrentThreadConns2
                | PgClient::XitcaMultiThread2Conns2
        );
        (!two || workload.tasks() > 1) && !(xitca && workload == Workload::PgSelect1C64Tls)
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn wrong_int(got: i32, want: i32) -> String {
    format!("wrong value: SELECT $1::int with {want} returned {got}")
}

/// Checks one row of [`ROWS`] (all three cells decoded); returns its integer.
fn check_row(a: i32, b: &str, c: f64) -> Result<i64, String> {
    if !b.starts_with("row-") || b.len() < 5 || c != f64::from(a) * 0.5 {
        return Err(format!("wrong value: row ({a}, {b:?}, {c})"));
    }
    Ok(i64::from(a))
}

fn check_rows(n: usize, sum: i64) -> Result<u64, String> {
    let want = (ROWS_N as i64) * (ROWS_N as i64 + 1) / 2;
    if n != ROWS_N || sum != want {
        return Err(format!(
            "wrong value: {n} rows summing to {sum}, expected {ROWS_N} / {want}"
        ));
    }
    Ok(1)
}

/// One measurement of `client` on `workload`.
pub fn run(ctx: &Ctx, workload: Workload, client: PgClient) -> Result<Sample, String> {
    match client {
        PgClient::Corelane => corelane(ctx, workload, At::Loop),
        PgClient::CorelaneOneWorker => corelane(ctx, workload, At::OneWorker),
        PgClient::CorelaneOffloop => corelane(ctx, workload, At::Offloop),
        PgClient::CorelaneOffloopOneWorker => corelane(ctx, workload, At::OffloopOneWorker),
        PgClient::TokioPgCurrentThread => {
            tokio_pg(ctx, workload, measure::tokio_current_thread()?, 1)
        }
        PgClient::TokioPgMultiThread2 => {
            tokio_pg(ctx, workload, measure::tokio_multi_thread(2)?, 1)
        }
        PgClient::TokioPgMultiThread2Conns2 => {
            tokio_pg(ctx, workload, measure::tokio_multi_thread(2)?, 2)
        }
        PgClient::TokioPgCurrentThreadConns2 => {
            tokio_pg(ctx, workload, measure::tokio_current_thread()?, 2)
        }
        PgClient::XitcaCurrentThread => xitca(ctx, workload, measure::tokio_current_thread()?, 1),
        PgClient::XitcaMultiThread2 => xitca(ctx, workload, measure::tokio_multi_thread(2)?, 1),
        PgClient::XitcaCurrentThreadConns2 => {
            xitca(ctx, workload, measure::tokio_current_thread()?, 2)
        }
        PgClient::XitcaMultiThread2Conns2 => {
            xitca(ctx, workload, measure::tokio_multi_thread(2)?, 2)
        }
    }
}

enum Place<'a> {
    Loop(&'a dyn corelane_runtime::EventLoopProvider),
    Tokio(tokio::runtime::Runtime),
}

fn go<M, F, Fut>(timing: Timing, place: Place<'_>, tasks: usize, make: M) -> Result<Sample, String>
where
    M: FnMut(usize) -> F,
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + Send + 'static,
{
    let ops: Vec<F> = (0..tasks).map(make).collect();
    measure::measure(timing, SERVER, move |window| match place {
        Place::Loop(workers) => measure::launch_corelane(workers, window, ops),
        Place::Tokio(rt) => measure::launch_tokio(rt, window, ops),
    })
}

/// The parameter values of task `task`: distinct per task, changing every op.
fn counter(task: usize) -> impl FnMut() -> i32 {
    let mut x = (task as i32).wrapping_mul(10_000_000);
    move || {
        x = x.wrapping_add(1);
        x
    }
}

fn corelane(ctx: &Ctx, workload: Workload, at: At) -> Result<Sample, String> {
    let url = ctx.pg_url(workload);
    let (client, place) = match at {
        At::Loop => (
            corelane_postgres::Client::connect(url).map_err(err)?,
            Place::Loop(&*ctx.workers),
        ),
        At::OneWorker => {
            let one = ctx.one_worker()?;
            let config = corelane_postgres::Config::parse(url).map_err(err)?;
            (
                corelane_postgres::Client::with_server(config, one).map_err(err)?,
                Place::Loop(one),
            )
        }
        At::OffloopOneWorker => {
            let config = corelane_postgres::Config::parse(url).map_err(err)?;
            (
                corelane_postgres::Client::with_server(config, ctx.one_worker()?).map_err(err)?,
                Place::Tokio(measure::tokio_multi_thread(2)?),
            )
        }
        At::Offloop => (
            corelane_postgres::Client::connect(url).map_err(err)?,
            Place::Tokio(measure::tokio_multi_thread(2)?),
        ),
    };
    let tasks = workload.tasks();
    match workload {
        Workload::PgSelect1C1 | Workload::PgSelect1C64 | Workload::PgSelect1C64Tls => {
            go(ctx.timing, place, tasks, |task| {
                let c = client.clone();
                let mut next = counter(task);
                move || {
                    let c = c.clone();
                    let v = next();
                    async move {
                        let row = c.query_one(SELECT1, &[&v]).await.map_err(err)?;
                        let got: i32 = row.get(0).map_err(err)?;
                        if got != v {
                            return Err(wrong_int(got, v));
                        }
                        Ok(1)
                    }
                }
            })
        }
        Workload::PgPipeP64 => go(ctx.timing, place, tasks, |task| {
            let c = client.clone();
            let mut next = counter(task);
            move || {
                let c = c.clone();
                let mut xs = [0i32; PIPE];
                for x in &mut xs {
                    *x = next();
                }
                async move {
                    let params: Vec<[&(dyn ToSql + Sync); 1]> =
                        xs.iter().map(|x| [x as _]).collect();
                    let items: Vec<(&str, &[&(dyn ToSql + Sync)])> =
                        params.iter().map(|p| (SELECT1, &p[..])).collect();
                    let outcomes = c.pipeline(&items).await.map_err(err)?;
                    if outcomes.len() != PIPE {
                        return Err(format!(
                            "wrong value: {} outcomes for {PIPE} queries",
                            outcomes.len()
                        ));
                    }
                    for (outcome, want) in outcomes.into_iter().zip(xs) {
                        let outcome = outcome.map_err(err)?;
                        let row = outcome.rows.first().ok_or("wrong value: no row")?;
                        let got: i32 = row.get(0).map_err(err)?;
                        if got != want {
                            return Err(wrong_int(got, want));
                        }
                    }
                    Ok(PIPE as u64)
                }
            }
        }),
        Workload::PgRows1k => go(ctx.timing, place, tasks, |_| {
            let c = client.clone();
            move || {
                let c = c.clone();
                async move {
                    let rows = c.query(ROWS, &[]).await.map_err(err)?;
                    let mut sum = 0i64;
                    for row in &rows {
                        let a: i32 = row.get(0).map_err(err)?;
                        let b: &str = row.get(1).map_err(err)?;
                        let c: f64 = row.get(2).map_err(err)?;
                        sum += check_row(a, b, c)?;
                    }
                    check_rows(rows.len(), sum)
                }
            }
        }),
        _ => Err("not a PostgreSQL workload".into()),
    }
}

type Conn = (Arc<tokio_postgres::Client>, tokio_postgres::Statement);

/// A tokio-postgres connection for `workload` (over rustls for the TLS row), its connection
/// task spawned on `rt`, where the queries run too.
fn tokio_connect(
    ctx: &Ctx,
    workload: Workload,
    rt: &tokio::runtime::Runtime,
) -> Result<tokio_postgres::Client, String> {
    if workload != Workload::PgSelect1C64Tls {
        let (client, connection) = rt
            .block_on(tokio_postgres::connect(
                &ctx.database_url,
                tokio_postgres::NoTls,
            ))
            .map_err(err)?;
        rt.spawn(connection);
        return Ok(client);
    }
    let pem = std::fs::read(&ctx.tls.ca_file).map_err(err)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(&ctx.tls.tokio_url, tls))
        .map_err(err)?;
    rt.spawn(connection);
    Ok(client)
}

fn tokio_pg(
    ctx: &Ctx,
    workload: Workload,
    rt: tokio::runtime::Runtime,
    connections: usize,
) -> Result<Sample, String> {
    let sql = if workload == Workload::PgRows1k {
        ROWS
    } else {
        SELECT1
    };
    let mut conns: Vec<Conn> = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = tokio_connect(ctx, workload, &rt)?;
        let stmt = rt.block_on(client.prepare(sql)).map_err(err)?;
        conns.push((Arc::new(client), stmt));
    }
    let pick = |task: usize| -> Result<Conn, String> {
        conns
            .get(task % connections.max(1))
            .cloned()
            .ok_or_else(|| "no connection".to_owned())
    };
    let first = pick(0)?;
    let conns_for_tasks: Vec<Conn> = (0..workload.tasks()).map(pick).collect::<Result<_, _>>()?;
    let mut per_task = conns_for_tasks.into_iter();
    let mut next_conn = move || per_task.next().unwrap_or_else(|| first.clone());
    let tasks = workload.tasks();
    let place = Place::Tokio(rt);
    match workload {
        Workload::PgSelect1C1 | Workload::PgSelect1C64 | Workload::PgSelect1C64Tls => {
            go(ctx.timing, place, tasks, |task| {
                let (client, stmt) = next_conn();
                let mut next = counter(task);
                move || {
                    let (client, stmt) = (client.clone(), stmt.clone());
                    let v = next();
                    async move {
                        let row = client.query_one(&stmt, &[&v]).await.map_err(err)?;
                        let got: i32 = row.try_get(0).map_err(err)?;
                        if got != v {
                            return Err(wrong_int(got, v));
                        }
                        Ok(1)
                    }
                }
            })
        }
        Workload::PgPipeP64 => go(ctx.timing, place, tasks, |task| {
            let (client, stmt) = next_conn();
            let mut next = counter(task);
            move || {
                // Pipelined the tokio-postgres way: concurrent futures on one connection.
                let queries: Vec<_> = (0..PIPE)
                    .map(|_| {
                        let (client, stmt) = (client.clone(), stmt.clone());
                        let v = next();
                        async move {
                            let row = client.query_one(&stmt, &[&v]).await.map_err(err)?;
                            let got: i32 = row.try_get(0).map_err(err)?;
                            if got != v {
                                return Err(wrong_int(got, v));
                            }
                            Ok::<(), String>(())
                        }
                    })
                    .collect();
                async move {
                    futures_util::future::try_join_all(queries).await?;
                    Ok(PIPE as u64)
                }
            }
        }),
        Workload::PgRows1k => go(ctx.timing, place, tasks, |_| {
            let (client, stmt) = next_conn();
            move || {
                let (client, stmt) = (client.clone(), stmt.clone());
                async move {
                    let rows = client.query(&stmt, &[]).await.map_err(err)?;
                    let mut sum = 0i64;
                    for row in &rows {
                        let a: i32 = row.try_get(0).map_err(err)?;
                        let b: &str = row.try_get(1).map_err(err)?;
                        let c: f64 = row.try_get(2).map_err(err)?;
                        sum += check_row(a, b, c)?;
                    }
                    check_rows(rows.len(), sum)
                }
            }
        }),
        _ => Err("not a PostgreSQL workload".into()),
    }
}

type XitcaConn = (Arc<xitca_postgres::Client>, Arc<xitca_postgres::Statement>);

/// xitca-postgres: `connections` connections (their drivers spawned on `rt`, where the
/// queries run too), a named statement prepared on each; task `i` uses connection
/// `i % connections`. A query is sent when it is issued, before it is awaited: the
/// pipeline issues its 64 queries, then reads the 64 answers.
fn xitca(
    ctx: &Ctx,
    workload: Workload,
    rt: tokio::runtime::Runtime,
    connections: usize,
) -> Result<Sample, String> {
    use std::future::IntoFuture;
    use xitca_postgres::types::Type;
    use xitca_postgres::{Execute, Postgres, Statement};
    let (sql, types): (&str, &[Type]) = if workload == Workload::PgRows1k {
        (ROWS, &[])
    } else {
        (SELECT1, &[Type::INT4])
    };
    let mut conns: Vec<XitcaConn> = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, driver) = rt
            .block_on(Postgres::new(ctx.database_url.as_str()).connect())
            .map_err(err)?;
        rt.spawn(driver.into_future());
        let stmt = rt
            .block_on(async {
                Statement::named(sql, types)
                    .execute(&client)
                    .await
                    .map(|s| s.leak())
            })
            .map_err(err)?;
        conns.push((Arc::new(client), Arc::new(stmt)));
    }
    let first = conns.first().cloned().ok_or("no connection")?;
    // Task `i` on connection `i % connections`.
    let conn_of = move |task: usize| {
        conns
            .get(task % connections.max(1))
            .cloned()
            .unwrap_or_else(|| first.clone())
    };
    let tasks = workload.tasks();
    let place = Place::Tokio(rt);
    match workload {
        Workload::PgSelect1C1 | Workload::PgSelect1C64 => go(ctx.timing, place, tasks, |task| {
            let (client, stmt) = conn_of(task);
            let mut next = counter(task);
            move || {
                let (client, stmt) = (client.clone(), stmt.clone());
                let v = next();
                async move {
                    let mut stream = stmt.bind([v]).query(&*client).await.map_err(err)?;
                    xitca_one_int(&mut stream, v).await?;
                    Ok(1)
                }
            }
        }),
        Workload::PgPipeP64 => go(ctx.timing, place, tasks, |task| {
            let (client, stmt) = conn_of(task);
            let mut next = counter(task);
            move || {
                let (client, stmt) = (client.clone(), stmt.clone());
                let mut xs = [0i32; PIPE];
                for x in &mut xs {
                    *x = next();
                }
                async move {
                    // All 64 sent (queued for the driver's next write) before the first read.
                    let mut streams = Vec::with_capacity(PIPE);
                    for x in &xs {
                        streams.push(stmt.bind([*x]).query(&*client).into_inner().map_err(err)?);
                    }
                    for (stream, want) in streams.iter_mut().zip(xs) {
                        xitca_one_int(stream, want).await?;
                    }
                    Ok(PIPE as u64)
                }
            }
        }),
        Workload::PgRows1k => go(ctx.timing, place, tasks, |task| {
            let (client, stmt) = conn_of(task);
            move || {
                let (client, stmt) = (client.clone(), stmt.clone());
                async move {
                    use xitca_postgres::iter::AsyncLendingIterator;
                    let mut stream = stmt.query(&*client).await.map_err(err)?;
                    let (mut n, mut sum) = (0usize, 0i64);
                    while let Some(row) = stream.try_next().await.map_err(err)? {
                        let a: i32 = row.try_get(0).map_err(err)?;
                        let b: &str = row.try_get(1).map_err(err)?;
                        let c: f64 = row.try_get(2).map_err(err)?;
                        sum += check_row(a, b, c)?;
                        n += 1;
                    }
                    check_rows(n, sum)
                }
            }
        }),
        _ => Err("not a PostgreSQL workload xitca-postgres runs".into()),
    }
}

/// Reads the one row of `SELECT $1::int` from `stream` and checks it is `want` (and that no
/// other row follows).
async fn xitca_one_int(
    stream: &mut xitca_postgres::RowStream<'_>,
    want: i32,
) -> Result<(), String> {
    use xitca_postgres::iter::AsyncLendingIterator;
    let got: i32 = match stream.try_next().await.map_err(err)? {
        Some(row) => row.try_get(0).map_err(err)?,
        None => return Err("wrong value: no row".into()),
    };
    if got != want {
        return Err(wrong_int(got, want));
    }
    if stream.try_next().await.map_err(err)?.is_some() {
        return Err("wrong value: a second row".into());
    }
    Ok(())
}
