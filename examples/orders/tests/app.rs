//! The shop's scripted day against a throwaway PostgreSQL and redis-server (or DATABASE_URL /
//! REDIS_URL), checked value by value: every step's outcome and typed error, the payments,
//! the events in stream order with their ids, the final orders, stock, cache counts, the
//! report, what the database holds, and both clients' stats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::Bound;

use corelane_orders::scenario::{self, Summary};
use corelane_orders::{
    AppError, CouponOutcome, EventKind, Line, OrderStatus, Report, StatusCount, STREAM,
};
use corelane_postgres::types::Range;
use futures_lite::future::block_on;
use rust_decimal::Decimal;

fn dec(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// `<ms>-<seq>` as a pair, for ordering.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[test]
fn a_day_at_the_shop() {
    let redis_server = corelane_testkit::redis_url().unwrap();
    let pg_server = corelane_testkit::database_url().unwrap();
    let pg = corelane_postgres::Client::connect(&pg_server.url()).unwrap();
    let redis = corelane_redis::Client::open(&redis_server.url()).unwrap();

    let s: Summary = scenario::run(pg.clone(), redis.clone()).unwrap();
    println!("{s}");

    let [alice, bob, carol] = [s.orders[0].id, s.orders[1].id, s.orders[2].id];

    // The steps, and the refused ones' typed errors.
    let whats: Vec<&str> = s.steps.iter().map(|st| st.what).collect();
    assert_eq!(
        whats,
        [
            "import the catalogue",
            "place an order",
            "place an order",
            "place an order",
            "dave orders a gadget and a widget",
            "alice's app retries her order",
            "look at alice's order",
            "alice pays with LAUNCH10",
            "look at alice's order",
            "bob's payment arrives under alice's reference",
            "bob pays with LAUNCH10",
            "carol cancels",
            "bob cancels",
            "fulfilment reads the stream",
        ]
    );
    let ok = |i: usize| s.steps[i].outcome.as_ref().unwrap().as_str();
    assert_eq!(ok(0), "3 products");
    assert_eq!(ok(1), "alice: 45.23");
    assert_eq!(ok(2), "bob: 149.00");
    assert_eq!(ok(3), "carol: 149.00");
    assert!(
        matches!(&s.steps[4].outcome, Err(AppError::OutOfStock { sku }) if sku == "B"),
        "{:?}",
        s.steps[4].outcome
    );
    assert!(
        matches!(&s.steps[5].outcome, Err(AppError::AlreadyPlaced(id)) if *id == alice),
        "{:?}",
        s.steps[5].outcome
    );
    assert_eq!(ok(6), "pending");
    assert_eq!(ok(7), "40.71");
    assert_eq!(ok(8), "paid");
    assert!(
        matches!(&s.steps[9].outcome, Err(AppError::DuplicatePayment(r)) if r == "psp-1001"),
        "{:?}",
        s.steps[9].outcome
    );
    assert_eq!(ok(11), "cancelled");
    assert!(
        matches!(
            &s.steps[12].outcome,
            Err(AppError::RefundNeedsApproval { order, amount }) if *order == bob && *amount == dec(14900)
        ),
        "{:?}",
        s.steps[12].outcome
    );
    assert_eq!(ok(13), "6 events");
    assert_eq!(s.imported, 3);

    // Payments: the coupon once (10% off, rounded to cents), then already used.
    assert_eq!(s.payments.len(), 2);
    assert_eq!(
        (
            s.payments[0].order,
            s.payments[0].amount,
            &s.payments[0].coupon
        ),
        (
            alice,
            dec(4071),
            &CouponOutcome::Applied {
                code: "LAUNCH10".into(),
                percent_off: 10
            }
        )
    );
    assert_eq!(
        (
            s.payments[1].order,
            s.payments[1].amount,
            &s.payments[1].coupon
        ),
        (
            bob,
            dec(14900),
            &CouponOutcome::AlreadyUsed("LAUNCH10".into())
        )
    );

    // Events: exactly the six changes, in order, with the stream's ids; all acknowledged.
    let got: Vec<(EventKind, uuid::Uuid, Decimal)> = s
        .events
        .iter()
        .map(|e| (e.kind, e.order, e.amount))
        .collect();
    assert_eq!(
        got,
        [
            (EventKind::Created, alice, dec(4523)),
            (EventKind::Created, bob, dec(14900)),
            (EventKind::Created, carol, dec(14900)),
            (EventKind::Paid, alice, dec(4071)),
            (EventKind::Paid, bob, dec(14900)),
            (EventKind::Cancelled, carol, dec(14900)),
        ]
    );
    let ids: Vec<&str> = s.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, s.stream_ids);
    assert!(
        ids.windows(2).all(|w| stream_id(w[0]) < stream_id(w[1])),
        "{ids:?}"
    );
    assert_eq!(s.pending_events, 0);

    // The orders at the end: the paid ones shipped by the consumer, bob's cancellation
    // rolled back, carol's kept.
    let final_state: Vec<(&str, OrderStatus, Decimal, bool)> = s
        .orders
        .iter()
        .map(|o| (o.customer.as_str(), o.status, o.total, o.paid_at.is_some()))
        .collect();
    assert_eq!(
        final_state,
        [
            ("alice", OrderStatus::Shipped, dec(4523), true),
            ("bob", OrderStatus::Shipped, dec(14900), true),
            ("carol", OrderStatus::Cancelled, dec(14900), false),
        ]
    );
    assert_eq!(
        s.orders[0].lines,
        [
            Line {
                sku: "A".into(),
                qty: 2,
                unit_price: dec(1999)
            },
            Line {
                sku: "C".into(),
                qty: 1,
                unit_price: dec(525)
            },
        ]
    );
    assert!(s
        .orders
        .iter()
        .all(|o| o.paid_at.is_none_or(|p| p >= o.created_at)));

    // Stock: dave's refused order took nothing; carol's units came back.
    let stock: Vec<(&str, i64)> = s.stock.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(stock, [("A", 8), ("B", 1), ("C", 99)]);
    assert_eq!((s.cache_hits, s.cache_misses), (2, 4));

    assert_eq!(
        s.report.by_status,
        [
            StatusCount {
                status: OrderStatus::Shipped,
                orders: 2,
                total: dec(19423)
            },
            StatusCount {
                status: OrderStatus::Cancelled,
                orders: 1,
                total: dec(14900)
            },
        ]
    );
    assert_eq!(s.report.revenue, dec(18971));
    // The day's period is `[opened,)` (the database's clock when the shop opened, before any
    // order); the time before it is `(,opened)` and holds nothing.
    let Some(Bound::Included(opened)) = s.report.period.lower().map(|b| b.cloned()) else {
        panic!("period {:?}", s.report.period)
    };
    assert_eq!(s.report.period, Range::from(opened..));
    assert!(s
        .orders
        .iter()
        .all(|o| s.report.period.contains(&o.created_at)));
    assert_eq!(
        s.report_before,
        Report {
            period: Range::from(..opened),
            by_status: Vec::new(),
            revenue: Decimal::ZERO,
        }
    );

    block_on(async {
        // What the database holds: no row of dave's order, no refund (rolled back), one
        // coupon redemption, two payments.
        let row = pg
            .query_one(
                "SELECT (SELECT count(*) FROM shop.orders) AS orders,
                        (SELECT count(*) FROM shop.payments) AS payments,
                        (SELECT count(*) FROM shop.refunds) AS refunds,
                        (SELECT count(*) FROM shop.coupon_redemptions) AS redemptions",
                &[],
            )
            .await
            .unwrap();
        let counts: Vec<i64> = (0..4).map(|i| row.get(i).unwrap()).collect();
        assert_eq!(counts, [3, 2, 0, 1]);

        // Why the import's temp table and `SET LOCAL` run in a transaction: the shared
        // connections refuse session changes, with a typed error.
        let e = pg
            .batch_execute("SET lock_timeout = '5s'")
            .await
            .unwrap_err();
        assert!(e.is_session_change(), "{e}");

        // The stats: nothing in flight, every transaction's connection back in its pool.
        let pg_total = pg.stats().await.total();
        assert_eq!(pg_total.in_flight, 0);
        assert!(pg_total.ok > 0);
        assert_eq!(pg_total.connections.exclusive_in_use, 0);
        let redis_total = redis.stats().await.total();
        assert_eq!(redis_total.in_flight, 0);
        // At least the script's OUT_OF_STOCK (plus NOSCRIPT on its first call, unless a
        // server given by REDIS_URL had it cached already).
        assert!(redis_total.server_errors >= 1, "{redis_total:?}");

        // Leave nothing behind on servers given by DATABASE_URL / REDIS_URL.
        pg.batch_execute("DROP SCHEMA shop CASCADE").await.unwrap();
        // The stream (its group with it), the stock counters, the three cached orders (they
        // would expire; they go now).
        let mut keys: Vec<String> = [STREAM, "shop:stock:A", "shop:stock:B", "shop:stock:C"]
            .map(str::to_owned)
            .into();
        keys.extend([alice, bob, carol].map(|id| format!("shop:order:{id}")));
        assert_eq!(redis.del::<u64>(&keys).await.unwrap(), 7);
    });
}
