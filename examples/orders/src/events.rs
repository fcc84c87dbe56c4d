//! Order events on a Redis stream: the shop appends one per change (`XADD`), and a consumer
//! group (`fulfillment`) reads them (`XREADGROUP`), acts, and acknowledges them (`XACK`), so an
//! event a crashed consumer did not finish stays pending for another.

use corelane_redis::{
    Client, StreamAddOptions, StreamId, StreamPendingReply, StreamReadOptions, StreamReadReply,
    StreamTrim,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::AppError;

/// The stream of order events.
pub const STREAM: &str = "shop:events";
/// The consumer group that ships paid orders.
pub const GROUP: &str = "fulfillment";
/// Roughly how many events the stream keeps (trimmed as it grows).
const KEEP: u64 = 100_000;
/// Entries read per `XREADGROUP`.
const BATCH: usize = 16;

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Placed.
    Created,
    /// Paid.
    Paid,
    /// Cancelled.
    Cancelled,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Paid => "paid",
            EventKind::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<EventKind> {
        match s {
            "created" => Some(EventKind::Created),
            "paid" => Some(EventKind::Paid),
            "cancelled" => Some(EventKind::Cancelled),
            _ => None,
        }
    }
}

/// One event, as read back from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The stream entry's id (`<ms>-<seq>`).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// To which order.
    pub order: Uuid,
    /// The amount involved (the total, or what was paid).
    pub amount: Decimal,
}

impl Event {
    fn from_entry(entry: &StreamId) -> Result<Event, AppError> {
        let bad = |why| AppError::BadEvent {
            id: entry.id.clone(),
            why,
        };
        let kind: String = entry.field("type")?.ok_or_else(|| bad("no type"))?;
        let amount: String = entry.field("amount")?.ok_or_else(|| bad("no amount"))?;
        Ok(Event {
            id: entry.id.clone(),
            kind: EventKind::parse(&kind).ok_or_else(|| bad("unknown type"))?,
            // `uuid::Uuid` is a reply type of its own (the `uuid` feature).
            order: entry.field("order")?.ok_or_else(|| bad("no order"))?,
            amount: amount.parse().map_err(|_| bad("amount is not a decimal"))?,
        })
    }
}

/// Appends an event; returns its id.
pub(crate) async fn publish(
    redis: &Client,
    kind: EventKind,
    order: Uuid,
    amount: Decimal,
) -> Result<String, AppError> {
    let (order, amount) = (order.to_string(), amount.to_string());
    let fields = [
        ("type", kind.as_str()),
        ("order", order.as_str()),
        ("amount", amount.as_str()),
    ];
    let trim = StreamAddOptions::default().trim(StreamTrim::maxlen(KEEP).approx());
    Ok(redis.xadd_options(STREAM, "*", &fields, trim).await?)
}

/// Creates the consumer group (and the stream) unless it exists: `BUSYGROUP` means it does.
pub(crate) async fn ensure_group(redis: &Client) -> Result<(), AppError> {
    match redis.xgroup_create_mkstream::<()>(STREAM, GROUP, "0").await {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => Ok(other?),
    }
}

/// Reads the group's next events for `consumer` (at most [`BATCH`]; none when all are
/// delivered). Without blocking: the scenario reads what is there.
pub(crate) async fn next_batch(redis: &Client, consumer: &str) -> Result<Vec<Event>, AppError> {
    let read: StreamReadReply = redis
        .xreadgroup(
            GROUP,
            consumer,
            &[STREAM],
            &[">"],
            StreamReadOptions::default().count(BATCH),
        )
        .await?;
    read.entries(STREAM).iter().map(Event::from_entry).collect()
}

/// Acknowledges a handled event.
pub(crate) async fn ack(redis: &Client, event: &Event) -> Result<(), AppError> {
    redis
        .xack::<u64>(STREAM, GROUP, &[event.id.as_str()])
        .await?;
    Ok(())
}

/// How many events the group has delivered and not seen acknowledged.
pub(crate) async fn pending(redis: &Client) -> Result<u64, AppError> {
    let summary: StreamPendingReply = redis.xpending(STREAM, GROUP).await?;
    Ok(summary.count)
}
