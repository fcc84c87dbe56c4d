//! corelane-orders: a small orders service, written the way a team would write it on
//! corelane's two clients.
//!
//! - **PostgreSQL** holds products, orders, coupons, payments and refunds (schema `shop`):
//!   `uuid` ids (`uuid::Uuid`), `timestamptz` (`chrono::DateTime<Utc>`), the lines of an order
//!   as `jsonb` (`JsonOf<Vec<Line>>`), money as `numeric` (`rust_decimal::Decimal`) and the
//!   status as a PostgreSQL enum mapped with `pg_enum!` ([`OrderStatus`]). Placing, paying
//!   and cancelling run in transaction handles (`Client::begin`): a coupon is redeemed in a
//!   savepoint, a refund that needs approval rolls the whole cancellation back. The product
//!   import needs one connection for a while (a temporary table, `SET LOCAL`): it runs in a
//!   transaction too, since shared connections refuse session changes. The report of a
//!   period (a `tstzrange` parameter, [`Range`](corelane_postgres::types::Range)) runs in a
//!   session (`Client::session`): its own `search_path` and `statement_timeout`, a snapshot
//!   copied into a temporary table by a short transaction, the grouping read from the copy.
//! - **Redis** keeps the stock (reserved atomically by a Lua [`Script`](corelane_redis::Script)),
//!   a cache of order views (`Json<Order>` with an expiry), and the order events: a stream
//!   (`XADD`) read by a consumer group (`XREADGROUP`, `XACK`) that ships paid orders.
//! - Failures are the drivers' typed errors mapped to [`AppError`]: a unique violation
//!   (SQLSTATE `23505`) is a duplicate order or payment reference, a check violation a refund
//!   over the limit, the script's `OUT_OF_STOCK` error code an order that cannot be served.
//!
//! [`scenario::run`] plays a scripted day of the shop and returns a [`Summary`];
//! `cargo run -p corelane-orders` prints it with both clients' `stats()`, and
//! `tests/app.rs` checks it value by value.

mod cache;
mod checkout;
mod error;
mod events;
mod model;
pub mod scenario;
mod schema;
mod shop;
mod stock;

pub use error::AppError;
pub use events::{Event, EventKind, GROUP, STREAM};
pub use model::{CouponOutcome, Line, Order, OrderStatus, Payment, Product};
pub use scenario::Summary;
pub use shop::{Report, Shop, StatusCount};
