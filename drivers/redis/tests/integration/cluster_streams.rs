//! Streams and scripts through the cluster client: the same typed commands routed by key
//! (hash tags keep a stream family in one slot), scripts cached per node.

use crate::support::{block_on, guard};
use bytes::Bytes;
use corelane_redis::cluster::{ClusterClient, ClusterPipeline};
use corelane_redis::{Script, StreamId, StreamPendingReply, StreamReadOptions, StreamReadReply};
use corelane_testkit::RedisCluster;

#[test]
fn streams_and_scripts_on_a_cluster() {
    guard("cluster streams", || {
        let cluster = RedisCluster::start().unwrap();
        let c = ClusterClient::open(&cluster.url()).unwrap();
        // Streams on several slots, each routed to its owner.
        for tag in ["a", "b", "c", "d"] {
            let key = format!("{{{tag}}}.events");
            let id: String = block_on(c.xadd(key.as_str(), "1-0", &[("tag", tag)])).unwrap();
            assert_eq!(id, "1-0");
            let got: Vec<StreamId> = block_on(c.xrange(key.as_str(), "-", "+")).unwrap();
            assert_eq!(
                got,
                [StreamId {
                    id: "1-0".into(),
                    fields: vec![(Bytes::from("tag"), Bytes::from(tag.to_string()))],
                }]
            );
        }
        // XREAD of two streams of one slot; of two slots is refused before sending.
        block_on(c.xadd::<String>("{a}.more", "2-0", &[("k", "v")])).unwrap();
        let read: StreamReadReply =
            block_on(c.xread(&["{a}.events", "{a}.more"], &["0", "0"])).unwrap();
        assert_eq!(read.keys.len(), 2);
        assert_eq!(read.entries("{a}.more")[0].id, "2-0");
        let e = block_on(c.xread::<StreamReadReply>(&["{a}.events", "{b}.events"], &["0", "0"]))
            .unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        // A group: XGROUP routes by its key (the third argument).
        block_on(c.xgroup_create::<()>("{b}.events", "g", "0")).unwrap();
        let got: StreamReadReply = block_on(c.xreadgroup(
            "g",
            "w",
            &["{b}.events"],
            &[">"],
            StreamReadOptions::default(),
        ))
        .unwrap();
        assert_eq!(got.entries("{b}.events").len(), 1);
        let pending: StreamPendingReply = block_on(c.xpending("{b}.events", "g")).unwrap();
        assert_eq!(pending.count, 1);
        assert_eq!(
            block_on(c.xack::<u64>("{b}.events", "g", &["1-0"])).unwrap(),
            1
        );

        // A script: NOSCRIPT on a fresh node, then EVAL; routed by its key.
        let script = Script::new("return redis.call('XLEN', KEYS[1])");
        for tag in ["a", "c"] {
            let key = format!("{{{tag}}}.events");
            let len: i64 = block_on(script.key(key.as_str()).invoke(&c)).unwrap();
            assert_eq!(len, 1);
        }
        // In a cluster pipeline, cached now on the nodes of {a} and {c}.
        let mut pipe = ClusterPipeline::new();
        pipe.invoke_script(&script.key("{a}.more"))
            .invoke_script(&script.key("{c}.events"))
            .xlen("{d}.events");
        let (a, c_len, d): (i64, i64, i64) = block_on(c.pipeline(&pipe)).unwrap();
        assert_eq!((a, c_len, d), (1, 1, 1));
        // Keys of two slots: refused before sending.
        let e = block_on(script.key("{a}.x").key("{b}.x").invoke::<i64, _>(&c)).unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        // SCRIPT LOAD / FUNCTION LOAD concern one node: refused by the cluster client.
        let e = block_on(script.load(&c)).unwrap_err();
        assert!(e.is_unroutable(), "{e}");
        let e = block_on(c.function_load::<String>("#!lua name=x\n")).unwrap_err();
        assert!(e.is_unroutable(), "{e}");
    });
}
