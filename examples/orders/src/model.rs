//! The shop's data, as Rust types that map straight onto the columns.

use chrono::{DateTime, Utc};
use corelane_postgres::pg_enum;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pg_enum! {
    /// `CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled')`:
    /// read and written by label; the schema-qualified name keeps it apart from any other
    /// `order_status` in the database.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum OrderStatus as "shop.order_status" {
        /// Placed, not paid yet.
        Pending => "pending",
        /// Paid, waiting for fulfilment.
        Paid => "paid",
        /// On its way.
        Shipped => "shipped",
        /// Cancelled (and refunded when it had been paid).
        Cancelled => "cancelled",
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: honours widths (`{:<9}`) in tables.
        f.pad(self.label())
    }
}

/// A product of the catalogue (`shop.products`).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Stock-keeping unit, the key.
    pub sku: String,
    /// What customers see.
    pub name: String,
    /// Unit price (`numeric(12,2)`).
    pub price: Decimal,
    /// Units in stock (kept in Redis).
    pub stock: i64,
}

/// One line of an order, stored in the order's `jsonb` `lines` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The product.
    pub sku: String,
    /// How many.
    pub qty: u32,
    /// The price when ordered (serialized as a string: no float rounding in JSON).
    pub unit_price: Decimal,
}

/// An order as stored (`shop.orders`), and as cached in Redis (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Chosen by the client, so a retried request is recognised (primary key).
    pub id: Uuid,
    /// Who ordered.
    pub customer: String,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// What was ordered.
    pub lines: Vec<Line>,
    /// The sum of the lines.
    pub total: Decimal,
    /// When it was placed (`timestamptz`).
    pub created_at: DateTime<Utc>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
}

/// What happened to the coupon offered with a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CouponOutcome {
    /// No coupon was offered.
    None,
    /// Redeemed: this much off.
    Applied {
        /// The coupon's code.
        code: String,
        /// The discount, in percent.
        percent_off: i32,
    },
    /// Someone redeemed it before (single use): the full price was paid.
    AlreadyUsed(String),
    /// No such coupon: the full price was paid.
    Unknown(String),
}

/// A payment taken for an order (`shop.payments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The order paid.
    pub order: Uuid,
    /// What was charged.
    pub amount: Decimal,
    /// The coupon's fate.
    pub coupon: CouponOutcome,
    /// When (the server's clock).
    pub paid_at: DateTime<Utc>,
}
