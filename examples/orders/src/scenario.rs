//! A scripted day of the shop, with every outcome kept for the caller to print or check.
//!
//! The day: three products are imported; alice, bob and carol order; dave asks for a gadget
//! when none is left (refused, nothing kept); alice's app retries her order (recognised);
//! alice pays with the single-use coupon; bob's payment first arrives under alice's payment
//! reference (refused), then under its own, and his coupon is already used (full price);
//! carol cancels; bob's cancellation would need a refund over the limit (rolled back); the
//! fulfilment consumer reads the six events and ships the paid orders; the report of the day
//! (and of the time before the opening, empty) closes it.

use std::fmt;

use chrono::{DateTime, Utc};
use corelane_postgres::types::Range;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::shop::Report;
use crate::{AppError, Event, Order, Payment, Product, Shop};

/// One step of the day and how it went.
#[derive(Debug)]
pub struct Step {
    /// What was tried.
    pub what: &'static str,
    /// What came of it: a line about the result, or the service's error.
    pub outcome: Result<String, AppError>,
}

/// Everything the day produced.
#[derive(Debug)]
pub struct Summary {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Products the import inserted or updated.
    pub imported: u64,
    /// The payments taken (alice's, bob's).
    pub payments: Vec<Payment>,
    /// The events the fulfilment consumer handled, in stream order.
    pub events: Vec<Event>,
    /// The ids the stream holds at the end (`XRANGE - +`), in order.
    pub stream_ids: Vec<String>,
    /// Events delivered to the group but not acknowledged, at the end.
    pub pending_events: u64,
    /// The orders at the end (alice's, bob's, carol's), read through the cache.
    pub orders: Vec<Order>,
    /// Units left of each product, by SKU.
    pub stock: Vec<(String, i64)>,
    /// Order-cache hits and misses over the day.
    pub cache_hits: u64,
    /// See [`cache_hits`](Self::cache_hits).
    pub cache_misses: u64,
    /// The report of the day: from the opening on (`[opened,)`).
    pub report: Report,
    /// The report of the time before the opening (`(,opened)`): nothing happened then.
    pub report_before: Report,
}

/// The catalogue of the day.
pub fn catalogue() -> Vec<Product> {
    let product = |sku: &str, name: &str, cents: i64, stock: i64| Product {
        sku: sku.to_owned(),
        name: name.to_owned(),
        price: Decimal::new(cents, 2),
        stock,
    };
    vec![
        product("A", "widget", 1999, 10),
        product("B", "gadget", 14900, 2),
        product("C", "gizmo", 525, 100),
    ]
}

/// Plays the day on one of the event loop's workers (where the clients' calls run without a
/// thread hop) and returns its summary. Blocks the calling thread until done.
pub fn run(
    pg: corelane_postgres::Client,
    redis: corelane_redis::Client,
) -> Result<Summary, AppError> {
    let runtime = |e: &dyn fmt::Display| AppError::Runtime(e.to_string());
    let workers = corelane_runtime::resolve(None).map_err(|e| runtime(&e))?;
    let worker = workers
        .worker(0)
        .ok_or_else(|| AppError::Runtime("the event loop has no worker".into()))?;
    let task = worker.spawn(move || async move { play(pg, redis).await });
    futures_lite::future::block_on(task).map_err(|e| runtime(&e))?
}

/// The day itself (on a worker: the shop's cache counters are not `Send`).
pub async fn play(
    pg: corelane_postgres::Client,
    redis: corelane_redis::Client,
) -> Result<Summary, AppError> {
    let shop = Shop::start_fresh(pg, redis).await?;
    // The shop opens: by the database's clock, which stamps the orders and payments.
    let opened: DateTime<Utc> = shop.pg.query_one("SELECT now()", &[]).await?.get(0)?;
    let mut steps = Vec::new();
    let mut step = |what, outcome| steps.push(Step { what, outcome });

    let imported = shop.import_products(&catalogue()).await?;
    step("import the catalogue", Ok(format!("{imported} products")));

    let (alice, bob, carol, dave) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    for (id, who, items) in [
        (alice, "alice", &[("A", 2), ("C", 1)][..]),
        (bob, "bob", &[("B", 1)][..]),
        (carol, "carol", &[("B", 1)][..]),
    ] {
        let order = shop.place_order(id, who, items).await?;
        step("place an order", Ok(format!("{who}: {}", order.total)));
    }
    step(
        "dave orders a gadget and a widget",
        shop.place_order(dave, "dave", &[("B", 1), ("A", 1)])
            .await
            .map(|o| o.total.to_string()),
    );
    step(
        "alice's app retries her order",
        shop.place_order(alice, "alice", &[("A", 2), ("C", 1)])
            .await
            .map(|o| o.total.to_string()),
    );
    let seen = shop.order(alice).await?;
    step("look at alice's order", Ok(seen.status.to_string()));

    let mut payments = Vec::new();
    let paid = shop.pay(alice, "psp-1001", Some("LAUNCH10")).await?;
    step("alice pays with LAUNCH10", Ok(format!("{}", paid.amount)));
    payments.push(paid);
    let seen = shop.order(alice).await?;
    step("look at alice's order", Ok(seen.status.to_string()));
    step(
        "bob's payment arrives under alice's reference",
        shop.pay(bob, "psp-1001", Some("LAUNCH10"))
            .await
            .map(|p| p.amount.to_string()),
    );
    let paid = shop.pay(bob, "psp-1002", Some("LAUNCH10")).await?;
    step("bob pays with LAUNCH10", Ok(format!("{:?}", paid.coupon)));
    payments.push(paid);

    shop.cancel(carol).await?;
    step("carol cancels", Ok("cancelled".into()));
    step(
        "bob cancels",
        shop.cancel(bob).await.map(|()| "cancelled".into()),
    );

    let events = shop.fulfil("packer-1").await?;
    step(
        "fulfilment reads the stream",
        Ok(format!("{} events", events.len())),
    );

    let stream_ids = shop
        .redis
        .xrange::<Vec<corelane_redis::StreamId>>(crate::STREAM, "-", "+")
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let pending_events = shop.pending_events().await?;
    let mut orders = Vec::new();
    for id in [alice, bob, carol] {
        orders.push(shop.order(id).await?);
    }
    // Unchanged since: from the cache.
    shop.order(alice).await?;
    let skus = ["A", "B", "C"];
    let units = shop.stock(&skus).await?;
    let stock = skus.iter().map(|s| (*s).to_owned()).zip(units).collect();
    let report = shop.report(Range::from(opened..)).await?;
    let report_before = shop.report(Range::from(..opened)).await?;
    let (cache_hits, cache_misses) = shop.cache_counts();
    Ok(Summary {
        steps,
        imported,
        payments,
        events,
        stream_ids,
        pending_events,
        orders,
        stock,
        cache_hits,
        cache_misses,
        report,
        report_before,
    })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "-- the day")?;
        for s in &self.steps {
            match &s.outcome {
                Ok(what) => writeln!(f, "  ok       {}: {what}", s.what)?,
                Err(e) => writeln!(f, "  refused  {}: {e}", s.what)?,
            }
        }
        writeln!(f, "-- events handled by the {} group", crate::GROUP)?;
        for e in &self.events {
            writeln!(f, "  {}  {:?} {} {}", e.id, e.kind, e.order, e.amount)?;
        }
        writeln!(f, "  pending afterwards: {}", self.pending_events)?;
        writeln!(f, "-- orders")?;
        for o in &self.orders {
            let paid = o.paid_at.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
            writeln!(
                f,
                "  {} {:<6} {:<9} {:>7} placed {} paid {paid}",
                o.id,
                o.customer,
                o.status,
                o.total,
                o.created_at.to_rfc3339()
            )?;
        }
        writeln!(f, "-- report of the day (orders placed since the opening)")?;
        for s in &self.report.by_status {
            writeln!(f, "  {:<9} {} orders, {}", s.status, s.orders, s.total)?;
        }
        writeln!(f, "  revenue {}", self.report.revenue)?;
        let stock: Vec<String> = self.stock.iter().map(|(s, n)| format!("{s}={n}")).collect();
        writeln!(f, "  stock {}", stock.join(" "))?;
        write!(
            f,
            "  order cache: {} hits, {} misses",
            self.cache_hits, self.cache_misses
        )
    }
}
