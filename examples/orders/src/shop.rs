//! The service: its clients, set-up, the catalogue import, reading an order (through the
//! cache), fulfilment (the stream's consumer) and the reports. Placing, paying and
//! cancelling are in `checkout.rs`.

use chrono::{DateTime, Utc};
use corelane_postgres::types::{JsonOf, Range};
use corelane_postgres::{IsolationLevel, Row, Statement, TransactionOptions};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::cache::OrderCache;
use crate::events::{self, Event, EventKind};
use crate::model::{Line, Order, OrderStatus, Product};
use crate::stock::Stock;
use crate::{schema, AppError};

/// The orders service: a PostgreSQL and a Redis client, and what it keeps of them. Lives on
/// one worker (its cache counters are plain cells); the clients inside are the usual cheap,
/// `Send` handles.
pub struct Shop {
    pub(crate) pg: corelane_postgres::Client,
    pub(crate) redis: corelane_redis::Client,
    pub(crate) stock: Stock,
    pub(crate) cache: OrderCache,
    /// Described once; runs as it is on any worker's connection.
    select_order: Statement,
}

/// One line of the report: how many orders have a status, and their total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// The status.
    pub status: OrderStatus,
    /// Orders with it.
    pub orders: i64,
    /// The sum of their totals.
    pub total: Decimal,
}

/// A report of a period, from one snapshot of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The period reported on.
    pub period: Range<DateTime<Utc>>,
    /// Per status, in the enum's order; statuses no order has are absent.
    pub by_status: Vec<StatusCount>,
    /// Money taken (the sum of the payments).
    pub revenue: Decimal,
}

const SELECT_ORDER: &str =
    "SELECT id, customer, status, lines, total, created_at, paid_at FROM shop.orders WHERE id = $1";

impl Shop {
    /// Creates the schema afresh (dropping a previous run's), empties the shop's Redis keys,
    /// creates the event stream's consumer group, and prepares the statements.
    pub async fn start_fresh(
        pg: corelane_postgres::Client,
        redis: corelane_redis::Client,
    ) -> Result<Shop, AppError> {
        pg.batch_execute(schema::RESET).await?;
        pg.execute(schema::COUPONS, &[]).await?;
        // The stock counters are set by the import; the stream goes with the old run.
        redis.del::<u64>(&[events::STREAM]).await?;
        events::ensure_group(&redis).await?;
        let select_order = pg.prepare(SELECT_ORDER).await?;
        Ok(Shop {
            stock: Stock::new(redis.clone()),
            cache: OrderCache::new(redis.clone()),
            pg,
            redis,
            select_order,
        })
    }

    /// Loads `products` into the catalogue (insert or update by SKU) and sets their stock.
    ///
    /// Work that needs one connection for a while: the rows go to a temporary table first
    /// (private to its session) and the merge runs with a `SET LOCAL` lock timeout. A shared
    /// connection refuses `SET` (`Error::is_session_change`) and would lose a temp table to
    /// the next caller, so this runs in a transaction: a connection of its own, reset
    /// (`DISCARD ALL`) before anyone else gets it.
    pub async fn import_products(&self, products: &[Product]) -> Result<u64, AppError> {
        let tx = self.pg.begin().await?;
        tx.batch_execute(
            "SET LOCAL lock_timeout = '5s';
             CREATE TEMP TABLE product_import (sku text, name text, price numeric(12,2))
                 ON COMMIT DROP",
        )
        .await?;
        for p in products {
            tx.execute(
                "INSERT INTO product_import VALUES ($1, $2, $3)",
                &[&p.sku, &p.name, &p.price],
            )
            .await?;
        }
        let merged = tx
            .execute(
                "INSERT INTO shop.products SELECT sku, name, price FROM product_import
                 ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price",
                &[],
            )
            .await?;
        tx.commit().await?;
        let units: Vec<(&str, i64)> = products.iter().map(|p| (p.sku.as_str(), p.stock)).collect();
        self.stock.set(&units).await?;
        Ok(merged)
    }

    /// An order, from the cache when it is there, else from PostgreSQL (then cached).
    pub async fn order(&self, id: Uuid) -> Result<Order, AppError> {
        if let Some(order) = self.cache.get(id).await? {
            return Ok(order);
        }
        let row = self
            .pg
            .query_opt(&self.select_order, &[&id])
            .await?
            .ok_or(AppError::NotFound(id))?;
        let order = order_of(&row)?;
        self.cache.put(&order).await?;
        Ok(order)
    }

    /// Units in stock of each of `skus`.
    pub async fn stock(&self, skus: &[&str]) -> Result<Vec<i64>, AppError> {
        self.stock.units(skus).await
    }

    /// (hits, misses) of the order cache so far.
    pub fn cache_counts(&self) -> (u64, u64) {
        self.cache.counts()
    }

    /// The fulfilment consumer: reads the group's new events as `consumer` until none is
    /// left, ships each paid order, and acknowledges every event once handled (an event
    /// whose handling failed stays pending, for a retry). Returns the events handled, in
    /// stream order.
    pub async fn fulfil(&self, consumer: &str) -> Result<Vec<Event>, AppError> {
        let mut handled = Vec::new();
        loop {
            let batch = events::next_batch(&self.redis, consumer).await?;
            if batch.is_empty() {
                return Ok(handled);
            }
            for event in batch {
                if event.kind == EventKind::Paid {
                    self.ship(event.order).await?;
                }
                events::ack(&self.redis, &event).await?;
                handled.push(event);
            }
        }
    }

    /// Events delivered to the group and not acknowledged.
    pub async fn pending_events(&self) -> Result<u64, AppError> {
        events::pending(&self.redis).await
    }

    /// Marks a paid order shipped. A redelivered event finds it shipped and changes nothing.
    async fn ship(&self, order: Uuid) -> Result<(), AppError> {
        self.pg
            .execute(
                "UPDATE shop.orders SET status = $2 WHERE id = $1 AND status = $3",
                &[&order, &OrderStatus::Shipped, &OrderStatus::Paid],
            )
            .await?;
        self.cache.forget(order).await
    }

    /// The report of the orders placed in `period` (`tstzrange`; an order's `created_at`
    /// in it) and the payments taken in it.
    ///
    /// A reporting job with settings of its own, so it runs in a session (one connection,
    /// reset when the session is dropped): `search_path` and `statement_timeout` hold for
    /// all its statements. The snapshot is taken in a short read-only `REPEATABLE READ`
    /// transaction that copies the period's orders into a temporary table of the session
    /// and sums the payments from the same snapshot; the grouping then reads the copy,
    /// holding no snapshot open (a temp table may be written in a read-only transaction).
    pub async fn report(&self, period: Range<DateTime<Utc>>) -> Result<Report, AppError> {
        let mut session = self.pg.session().await?;
        session
            .batch_execute(
                "SET search_path = shop; SET statement_timeout = '10s';
                 CREATE TEMP TABLE report_orders (status order_status, total numeric(12,2))",
            )
            .await?;
        let options = TransactionOptions::new()
            .isolation(IsolationLevel::RepeatableRead)
            .read_only(true);
        let revenue = session
            .transaction(options, move |tx| async move {
                tx.execute(
                    "INSERT INTO report_orders
                     SELECT status, total FROM orders WHERE created_at <@ $1::tstzrange",
                    &[&period],
                )
                .await?;
                tx.query_one(
                    "SELECT coalesce(sum(amount), 0) AS revenue FROM payments
                     WHERE paid_at <@ $1::tstzrange",
                    &[&period],
                )
                .await?
                .get("revenue")
            })
            .await?;
        let rows = session
            .query(
                "SELECT status, count(*) AS orders, sum(total) AS total
                 FROM report_orders GROUP BY status ORDER BY status",
                &[],
            )
            .await?;
        let by_status = rows
            .iter()
            .map(|r| {
                Ok(StatusCount {
                    status: r.get("status")?,
                    orders: r.get("orders")?,
                    total: r.get("total")?,
                })
            })
            .collect::<Result<Vec<_>, corelane_postgres::Error>>()?;
        Ok(Report {
            period,
            by_status,
            revenue,
        })
    }
}

/// An order from a row of [`SELECT_ORDER`] (or the same columns).
pub(crate) fn order_of(row: &Row) -> Result<Order, corelane_postgres::Error> {
    let JsonOf(lines) = row.get::<JsonOf<Vec<Line>>>("lines")?;
    Ok(Order {
        id: row.get("id")?,
        customer: row.get("customer")?,
        status: row.get("status")?,
        lines,
        total: row.get("total")?,
        created_at: row.get("created_at")?,
        paid_at: row.get("paid_at")?,
    })
}
