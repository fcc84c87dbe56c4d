//! Placing, paying and cancelling orders: each a transaction handle (`Client::begin`) whose
//! every way out is explicit — `commit`, `rollback`, or an early `?` that drops the handle,
//! which rolls the transaction back.

use corelane_postgres::types::JsonOf;
use corelane_postgres::SqlState;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::constraint;
use crate::events::{self, EventKind};
use crate::model::{CouponOutcome, Line, Order, OrderStatus, Payment};
use crate::schema::{PAYMENT_REFERENCE_KEY, REFUND_NEEDS_APPROVAL};
use crate::{AppError, Shop};

fn is(e: &corelane_postgres::Error, code: SqlState) -> bool {
    e.code() == Some(&code)
}

impl Shop {
    /// Places order `id` (chosen by the client: a retried request is recognised) for
    /// `customer`, of `(sku, qty)` lines at today's prices.
    ///
    /// The order row is inserted first, in a transaction; then the stock is reserved in Redis
    /// (the script takes every line or none); then the transaction commits. So a duplicate id
    /// costs no stock, and an order short of stock is rolled back and never seen.
    pub async fn place_order(
        &self,
        id: Uuid,
        customer: &str,
        items: &[(&str, u32)],
    ) -> Result<Order, AppError> {
        let tx = self.pg.begin().await?;
        let skus: Vec<&str> = items.iter().map(|(sku, _)| *sku).collect();
        let prices = tx
            .query(
                "SELECT sku, price FROM shop.products WHERE sku = ANY($1)",
                &[&skus],
            )
            .await?;
        let mut lines = Vec::with_capacity(items.len());
        for (sku, qty) in items {
            let price = prices
                .iter()
                .find(|r| r.get::<&str>("sku").is_ok_and(|s| s == *sku))
                .ok_or_else(|| AppError::UnknownProduct((*sku).to_owned()))?;
            lines.push(Line {
                sku: (*sku).to_owned(),
                qty: *qty,
                unit_price: price.get("price")?,
            });
        }
        let total: Decimal = lines
            .iter()
            .map(|l| l.unit_price * Decimal::from(l.qty))
            .sum();
        let inserted = tx
            .query_one(
                "INSERT INTO shop.orders (id, customer, lines, total) VALUES ($1, $2, $3, $4)
                 RETURNING created_at",
                &[&id, &customer, &JsonOf(&lines), &total],
            )
            .await;
        let created_at = match inserted {
            Ok(row) => row.get("created_at")?,
            // The handle is dropped on return: the transaction rolls back.
            Err(e) if is(&e, SqlState::UNIQUE_VIOLATION) => {
                return Err(AppError::AlreadyPlaced(id))
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = self.stock.reserve(&lines).await {
            tx.rollback().await?;
            return Err(e);
        }
        if let Err(e) = tx.commit().await {
            // Nothing of the order persists: give its units back.
            self.stock.release(&lines).await?;
            return Err(e.into());
        }
        let order = Order {
            id,
            customer: customer.to_owned(),
            status: OrderStatus::Pending,
            lines,
            total,
            created_at,
            paid_at: None,
        };
        events::publish(&self.redis, EventKind::Created, id, total).await?;
        self.cache.put(&order).await?;
        Ok(order)
    }

    /// Pays order `id` under the payment provider's `reference`, with an optional
    /// single-use coupon.
    ///
    /// The coupon is redeemed in a savepoint: if it was used before (a unique violation) or
    /// does not exist (a foreign-key violation) only the savepoint rolls back and the order
    /// is paid at full price. A reference used before fails the whole payment.
    pub async fn pay(
        &self,
        id: Uuid,
        reference: &str,
        coupon: Option<&str>,
    ) -> Result<Payment, AppError> {
        let mut tx = self.pg.begin().await?;
        let row = tx
            .query_opt(
                "SELECT status, total FROM shop.orders WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
            .ok_or(AppError::NotFound(id))?;
        let status: OrderStatus = row.get("status")?;
        if status != OrderStatus::Pending {
            return Err(AppError::InvalidTransition {
                order: id,
                from: status,
                to: OrderStatus::Paid,
            });
        }
        let total: Decimal = row.get("total")?;

        let coupon = match coupon {
            None => CouponOutcome::None,
            Some(code) => {
                let sp = tx.savepoint().await?;
                let redeemed = sp
                    .query_one(
                        "WITH r AS (INSERT INTO shop.coupon_redemptions VALUES ($1, $2))
                         SELECT percent_off FROM shop.coupons WHERE code = $1",
                        &[&code, &id],
                    )
                    .await;
                match redeemed {
                    Ok(row) => {
                        let percent_off: i32 = row.get("percent_off")?;
                        sp.release().await?;
                        CouponOutcome::Applied {
                            code: code.to_owned(),
                            percent_off,
                        }
                    }
                    Err(e) if is(&e, SqlState::UNIQUE_VIOLATION) => {
                        sp.rollback().await?;
                        CouponOutcome::AlreadyUsed(code.to_owned())
                    }
                    Err(e) if is(&e, SqlState::FOREIGN_KEY_VIOLATION) => {
                        sp.rollback().await?;
                        CouponOutcome::Unknown(code.to_owned())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let amount = match &coupon {
            CouponOutcome::Applied { percent_off, .. } => {
                (total * Decimal::from(100 - percent_off) / Decimal::ONE_HUNDRED).round_dp(2)
            }
            _ => total,
        };

        let paid_at = tx
            .query_one(
                "UPDATE shop.orders SET status = $2, paid_at = now() WHERE id = $1
                 RETURNING paid_at",
                &[&id, &OrderStatus::Paid],
            )
            .await?
            .get("paid_at")?;
        let paid = tx
            .execute(
                "INSERT INTO shop.payments (order_id, amount, reference, paid_at)
                 VALUES ($1, $2, $3, $4)",
                &[&id, &amount, &reference, &paid_at],
            )
            .await;
        match paid {
            Ok(_) => {}
            Err(e)
                if is(&e, SqlState::UNIQUE_VIOLATION)
                    && constraint(&e) == Some(PAYMENT_REFERENCE_KEY) =>
            {
                tx.rollback().await?;
                return Err(AppError::DuplicatePayment(reference.to_owned()));
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;

        self.cache.forget(id).await?;
        events::publish(&self.redis, EventKind::Paid, id, amount).await?;
        Ok(Payment {
            order: id,
            amount,
            coupon,
            paid_at,
        })
    }

    /// Cancels order `id`: a pending order simply, a paid one with a refund of what was paid.
    /// Refunds over the limit need a manager (the `refund_needs_approval` check): then the
    /// whole cancellation — status change included — is rolled back.
    pub async fn cancel(&self, id: Uuid) -> Result<(), AppError> {
        let tx = self.pg.begin().await?;
        let row = tx
            .query_opt(
                "SELECT status, lines FROM shop.orders WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
            .ok_or(AppError::NotFound(id))?;
        let from: OrderStatus = row.get("status")?;
        if !matches!(from, OrderStatus::Pending | OrderStatus::Paid) {
            return Err(AppError::InvalidTransition {
                order: id,
                from,
                to: OrderStatus::Cancelled,
            });
        }
        let JsonOf(lines) = row.get::<JsonOf<Vec<Line>>>("lines")?;
        let total = tx
            .query_one(
                "UPDATE shop.orders SET status = $2 WHERE id = $1 RETURNING total",
                &[&id, &OrderStatus::Cancelled],
            )
            .await?
            .get("total")?;
        if from == OrderStatus::Paid {
            let refunded = tx
                .query_one(
                    "INSERT INTO shop.refunds SELECT order_id, amount FROM shop.payments
                     WHERE order_id = $1 RETURNING amount",
                    &[&id],
                )
                .await;
            match refunded {
                Ok(_) => {}
                Err(e)
                    if is(&e, SqlState::CHECK_VIOLATION)
                        && constraint(&e) == Some(REFUND_NEEDS_APPROVAL) =>
                {
                    tx.rollback().await?;
                    let paid = self
                        .pg
                        .query_one(
                            "SELECT amount FROM shop.payments WHERE order_id = $1",
                            &[&id],
                        )
                        .await?
                        .get("amount")?;
                    return Err(AppError::RefundNeedsApproval {
                        order: id,
                        amount: paid,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;

        self.stock.release(&lines).await?;
        self.cache.forget(id).await?;
        events::publish(&self.redis, EventKind::Cancelled, id, total).await?;
        Ok(())
    }
}
