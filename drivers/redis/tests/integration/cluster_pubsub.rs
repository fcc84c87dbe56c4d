//! Sharded pub/sub on a real Redis Cluster (three masters, a replica each): channels on two
//! shards received in order per channel, unsubscribed, and subscribed again at the new
//! master after the channel's slot moved (resharding, there and back) and after its master
//! died (failover).

use std::time::{Duration, Instant};

use crate::support::guard;
use corelane_redis::cluster::{key_slot, ClusterClient, ClusterSubscriber};
use corelane_redis::{Cmd, Message, SubscriberOptions};
use corelane_testkit::{RedisCluster, Role};

/// Bound of a wait for one message: longer means it never comes.
const RECEIVE_LIMIT: Duration = Duration::from_secs(30);
/// Bound of the wait for a subscription to reach a channel's new master.
const MOVE_LIMIT: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn spublish(client: &ClusterClient, rt: &tokio::runtime::Runtime, ch: &str, msg: &str) -> i64 {
    rt.block_on(client.query::<i64>(Cmd::new("SPUBLISH").arg(ch).arg(msg)))
        .unwrap()
}

fn receive(sub: &mut ClusterSubscriber, rt: &tokio::runtime::Runtime) -> Message {
    rt.block_on(async { tokio::time::timeout(RECEIVE_LIMIT, sub.next()).await })
        .expect("no message arrived")
        .expect("the subscriber ended")
}

/// Two channel names whose slots are served by different masters.
fn channels_on_two_shards(cluster: &mut RedisCluster) -> (String, String) {
    let first = "{sa}news".to_owned();
    let owner = cluster.master_of(key_slot(first.as_bytes())).unwrap().addr;
    for i in 0.. {
        let other = format!("{{sb{i}}}news");
        if cluster.master_of(key_slot(other.as_bytes())).unwrap().addr != owner {
            return (first, other);
        }
    }
    unreachable!()
}

/// Publishes `text` to `channel` until a subscriber counts it (the subscription reached the
/// channel's current master), then returns the message received.
fn publish_until_heard(
    client: &ClusterClient,
    sub: &mut ClusterSubscriber,
    rt: &tokio::runtime::Runtime,
    channel: &str,
    text: &str,
) -> Message {
    let deadline = Instant::now() + MOVE_LIMIT;
    loop {
        let reached = rt.block_on(client.query::<i64>(Cmd::new("SPUBLISH").arg(channel).arg(text)));
        if matches!(reached, Ok(1)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{channel} was not subscribed at its new master (last: {reached:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Messages sent while it moved may also arrive (from either master): skip to ours.
    loop {
        let message = receive(sub, rt);
        if message.payload_str() == Some(text) {
            return message;
        }
    }
}

#[test]
fn shard_channels_on_two_shards_in_order_then_unsubscribed() {
    guard("spubsub", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        let (a, b) = channels_on_two_shards(&mut cluster);
        let rt = runtime();
        let mut sub = client.sharded_subscriber();
        // Usable from any runtime's tasks.
        fn is_send<T: Send>(_: &T) {}
        is_send(&sub.ssubscribe(["x"]));
        is_send(&sub.sunsubscribe(["x"]));
        is_send(&sub.next());
        // Subscribed from another thread than the one that receives.
        std::thread::scope(|s| {
            s.spawn(|| {
                futures_lite::future::block_on(sub.ssubscribe([a.as_str(), b.as_str()])).unwrap()
            });
        });
        let mut listed = sub.shard_channels();
        listed.sort();
        assert_eq!(listed, [a.as_bytes(), b.as_bytes()]);
        for i in 0..20 {
            assert_eq!(spublish(&client, &rt, &a, &format!("a{i}")), 1);
            assert_eq!(spublish(&client, &rt, &b, &format!("b{i}")), 1);
        }
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        for _ in 0..40 {
            let m = receive(&mut sub, &rt);
            assert!(m.sharded);
            let payload = m.payload_str().unwrap().to_owned();
            if m.channel == a.as_bytes() {
                got_a.push(payload);
            } else {
                assert_eq!(m.channel, b.as_bytes());
                got_b.push(payload);
            }
        }
        assert_eq!(got_a, (0..20).map(|i| format!("a{i}")).collect::<Vec<_>>());
        assert_eq!(got_b, (0..20).map(|i| format!("b{i}")).collect::<Vec<_>>());

        // Unsubscribed: the master counts no subscriber for it any more.
        rt.block_on(sub.sunsubscribe([a.as_str()])).unwrap();
        assert_eq!(sub.shard_channels(), [b.as_bytes()]);
        assert_eq!(spublish(&client, &rt, &a, "gone"), 0);
        assert_eq!(spublish(&client, &rt, &b, "still"), 1);
        assert_eq!(receive(&mut sub, &rt).payload_str(), Some("still"));
    });
}

#[test]
fn shard_channels_follow_a_slot_move_and_a_failover() {
    guard("spubsub-move", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        let channel = "{smove}ch";
        let slot = key_slot(channel.as_bytes());
        let rt = runtime();
        let mut sub = client
            .sharded_subscriber_with(SubscriberOptions::default(), Duration::from_millis(200));
        rt.block_on(sub.ssubscribe([channel])).unwrap();
        assert_eq!(spublish(&client, &rt, channel, "before"), 1);
        assert_eq!(receive(&mut sub, &rt).payload_str(), Some("before"));

        // Resharding: the old master drops the subscription; the watcher moves it.
        let owner = cluster.master_of(slot).unwrap().addr;
        let to = cluster
            .nodes()
            .unwrap()
            .into_iter()
            .find(|n| n.role == Role::Master && n.addr != owner)
            .unwrap()
            .addr;
        cluster.move_slot(slot, to).unwrap();
        let m = publish_until_heard(&client, &mut sub, &rt, channel, "after-move");
        assert_eq!(m.channel, channel.as_bytes());
        assert_eq!(sub.shard_channels(), [channel.as_bytes()]);

        // And back (whether or not the watcher ran in between: the old master dropped the
        // subscription when the slot left it, and it must be made again there).
        cluster.move_slot(slot, owner).unwrap();
        let m = publish_until_heard(&client, &mut sub, &rt, channel, "moved-back");
        assert_eq!(m.channel, channel.as_bytes());

        // Failover: the channel's master dies, its replica takes over.
        cluster.kill(owner).unwrap();
        cluster.wait_ok(MOVE_LIMIT).unwrap();
        assert_ne!(cluster.master_of(slot).unwrap().addr, owner);
        let m = publish_until_heard(&client, &mut sub, &rt, channel, "after-failover");
        assert_eq!(m.channel, channel.as_bytes());
        // In order again on the new master.
        for i in 0..10 {
            assert_eq!(spublish(&client, &rt, channel, &i.to_string()), 1);
        }
        let got: Vec<String> = (0..10)
            .map(|_| receive(&mut sub, &rt).payload_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    });
}
