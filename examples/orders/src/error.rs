//! The service's errors: what a caller can act on, mapped from the drivers' typed errors.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::model::OrderStatus;

/// Why a request of the shop failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// An order with this id exists already (a retried request): SQLSTATE `23505` on the
    /// primary key.
    #[error("order {0} was placed already")]
    AlreadyPlaced(Uuid),
    /// The stock script refused the reservation (its `OUT_OF_STOCK` error code).
    #[error("out of stock: {sku}")]
    OutOfStock {
        /// The first product short of units.
        sku: String,
    },
    /// An order named a product not in the catalogue.
    #[error("unknown product {0}")]
    UnknownProduct(String),
    /// No order with this id.
    #[error("order {0} not found")]
    NotFound(Uuid),
    /// The order's status does not allow the change.
    #[error("order {order} is {from}; it cannot become {to}")]
    InvalidTransition {
        /// The order.
        order: Uuid,
        /// Its status.
        from: OrderStatus,
        /// The status asked for.
        to: OrderStatus,
    },
    /// A payment reference used before: SQLSTATE `23505` on `payments_reference_key`.
    #[error("payment reference {0} was used already")]
    DuplicatePayment(String),
    /// The refund is over the limit (SQLSTATE `23514` on `refund_needs_approval`): the
    /// cancellation was rolled back.
    #[error("a refund of {amount} for order {order} needs a manager's approval")]
    RefundNeedsApproval {
        /// The order.
        order: Uuid,
        /// The refund refused.
        amount: Decimal,
    },
    /// An event on the stream without the fields the consumer needs.
    #[error("malformed event {id}: {why}")]
    BadEvent {
        /// The stream entry's id.
        id: String,
        /// What is missing or wrong.
        why: &'static str,
    },
    /// Any other PostgreSQL failure.
    #[error("postgres: {0}")]
    Postgres(#[from] corelane_postgres::Error),
    /// Any other Redis failure.
    #[error("redis: {0}")]
    Redis(#[from] corelane_redis::Error),
    /// The worker running the scenario went away.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// The name of the constraint a PostgreSQL error is about, if the server named one.
pub(crate) fn constraint(e: &corelane_postgres::Error) -> Option<&str> {
    e.as_db_error().and_then(|db| db.constraint.as_deref())
}
