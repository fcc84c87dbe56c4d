//! The tables, in a schema of their own (`shop`) so that a run against a database you already
//! have (`DATABASE_URL`) touches nothing else; created afresh by every run (so two runs against
//! one database at the same time would trip over each other).

/// Drops and creates schema `shop`. Runs on a shared connection: DDL does not change the
/// session, so it is allowed there (one simple-protocol round trip).
pub(crate) const RESET: &str = "
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
CREATE TABLE shop.products (
    sku   text PRIMARY KEY,
    name  text NOT NULL,
    price numeric(12,2) NOT NULL CHECK (price >= 0)
);
CREATE TABLE shop.orders (
    id         uuid PRIMARY KEY,
    customer   text NOT NULL,
    status     shop.order_status NOT NULL DEFAULT 'pending',
    lines      jsonb NOT NULL,
    total      numeric(12,2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    paid_at    timestamptz
);
CREATE TABLE shop.coupons (
    code        text PRIMARY KEY,
    percent_off int4 NOT NULL CHECK (percent_off BETWEEN 1 AND 100)
);
-- Single-use coupons: a second redemption is a unique violation.
CREATE TABLE shop.coupon_redemptions (
    code     text PRIMARY KEY REFERENCES shop.coupons,
    order_id uuid NOT NULL REFERENCES shop.orders
);
CREATE TABLE shop.payments (
    order_id  uuid PRIMARY KEY REFERENCES shop.orders,
    amount    numeric(12,2) NOT NULL,
    reference text NOT NULL CONSTRAINT payments_reference_key UNIQUE,
    paid_at   timestamptz NOT NULL DEFAULT now()
);
-- Larger refunds go through a manager, not through this service.
CREATE TABLE shop.refunds (
    order_id uuid PRIMARY KEY REFERENCES shop.orders,
    amount   numeric(12,2) NOT NULL CONSTRAINT refund_needs_approval CHECK (amount <= 100.00)
);
";

/// The single-use coupons the shop starts with.
pub(crate) const COUPONS: &str = "INSERT INTO shop.coupons VALUES ('LAUNCH10', 10)";

/// The constraint behind [`crate::AppError::DuplicatePayment`].
pub(crate) const PAYMENT_REFERENCE_KEY: &str = "payments_reference_key";

/// The constraint behind [`crate::AppError::RefundNeedsApproval`].
pub(crate) const REFUND_NEEDS_APPROVAL: &str = "refund_needs_approval";
