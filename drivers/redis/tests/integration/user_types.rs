//! Replies into maps, sets, pairs and a user's own type, and collections as arguments, against
//! a real redis-server over RESP3 and RESP2; `Json<T>` and `Uuid` when their features are on
//! (the workspace turns them on through `examples/`, so `cargo test --workspace` runs them).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use corelane_redis::{ArgSink, Client, Cmd, Config, Error, FromValue, Protocol, ToArg, Value};
use corelane_testkit::RedisServer;

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    Client::new(Config::from_url(&server.url()).unwrap().protocol(protocol)).unwrap()
}

/// Runs `check` once per protocol, with keys prefixed by the protocol's name.
fn on_both_protocols(check: impl AsyncFn(&Client, Protocol, &str)) {
    let server = RedisServer::start().unwrap();
    for (protocol, prefix) in [(Protocol::Resp3, "r3"), (Protocol::Resp2, "r2")] {
        let c = client(&server, protocol);
        futures_lite::future::block_on(check(&c, protocol, prefix));
    }
}

#[test]
fn hgetall_into_maps() {
    on_both_protocols(async |c, protocol, p| {
        let key = format!("{p}:h");
        // Pairs as arguments: one field and one value each.
        let added: i64 = c
            .query(
                Cmd::new("HSET")
                    .arg(&key)
                    .arg([("a", 1), ("b", 2), ("c", 3)]),
            )
            .await
            .unwrap();
        assert_eq!(added, 3);
        let raw: Value = c.hgetall(&key).await.unwrap();
        match (protocol, &raw) {
            (Protocol::Resp3, Value::Map(pairs)) => assert_eq!(pairs.len(), 3),
            (Protocol::Resp2, Value::Array(flat)) => assert_eq!(flat.len(), 6),
            other => panic!("unexpected HGETALL shape: {other:?}"),
        }
        let h: HashMap<String, i64> = c.hgetall(&key).await.unwrap();
        assert_eq!(
            h,
            HashMap::from([("a".into(), 1), ("b".into(), 2), ("c".into(), 3)])
        );
        let b: BTreeMap<String, String> = c.hgetall(&key).await.unwrap();
        assert_eq!(b.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        let empty: HashMap<String, i64> = c.hgetall(format!("{p}:nothing")).await.unwrap();
        assert!(empty.is_empty());
        // A field that is not a number: a typed error, and the connection stays usable.
        c.hset::<()>(&key, "d", "four").await.unwrap();
        let e = c.hgetall::<HashMap<String, i64>>(&key).await.unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        // HGETALL of a string key: the server's error, with its code.
        c.set::<()>(format!("{p}:str"), "x").await.unwrap();
        let e = c
            .hgetall::<HashMap<String, String>>(format!("{p}:str"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));
    });
}

#[test]
fn smembers_into_sets() {
    on_both_protocols(async |c, protocol, p| {
        let key = format!("{p}:s");
        // A Vec as arguments: one member each.
        let added: i64 = c
            .query(Cmd::new("SADD").arg(&key).arg(vec!["x", "y", "z", "x"]))
            .await
            .unwrap();
        assert_eq!(added, 3);
        let raw: Value = c.smembers(&key).await.unwrap();
        match (protocol, &raw) {
            (Protocol::Resp3, Value::Set(members)) | (Protocol::Resp2, Value::Array(members)) => {
                assert_eq!(members.len(), 3)
            }
            other => panic!("unexpected SMEMBERS shape: {other:?}"),
        }
        let h: HashSet<String> = c.smembers(&key).await.unwrap();
        assert_eq!(h, HashSet::from(["x".into(), "y".into(), "z".into()]));
        let b: BTreeSet<String> = c.smembers(&key).await.unwrap();
        assert_eq!(b.into_iter().collect::<Vec<_>>(), ["x", "y", "z"]);
        // Members that are not numbers.
        let e = c.smembers::<HashSet<i64>>(&key).await.unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
    });
}

#[test]
fn zrange_withscores_into_pairs() {
    on_both_protocols(async |c, protocol, p| {
        let key = format!("{p}:z");
        // A slice of (score, member) tuples as arguments.
        let items: &[(f64, &str)] = &[(1.5, "a"), (2.0, "b"), (-3.25, "c")];
        let added: i64 = c
            .query(Cmd::new("ZADD").arg(&key).arg(items))
            .await
            .unwrap();
        assert_eq!(added, 3);
        let raw: Value = c.zrange_withscores(&key, 0, -1).await.unwrap();
        match (protocol, &raw) {
            // RESP3: an array of [member, score] pairs.
            (Protocol::Resp3, Value::Array(pairs)) => {
                assert_eq!(pairs.len(), 3);
                assert!(matches!(pairs[0], Value::Array(_)), "{raw:?}");
            }
            // RESP2: member, score, member, score, …
            (Protocol::Resp2, Value::Array(flat)) => assert_eq!(flat.len(), 6),
            other => panic!("unexpected ZRANGE shape: {other:?}"),
        }
        let got: Vec<(String, f64)> = c.zrange_withscores(&key, 0, -1).await.unwrap();
        assert_eq!(
            got,
            [("c".into(), -3.25), ("a".into(), 1.5), ("b".into(), 2.0)]
        );
        let as_map: HashMap<String, f64> = c.zrange_withscores(&key, 0, -1).await.unwrap();
        assert_eq!(as_map["b"], 2.0);
        // Three-element tuples do not fit pairs: a typed error, not a panic.
        let e = c
            .zrange_withscores::<Vec<(String, f64, f64)>>(&key, 0, -1)
            .await
            .unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        // Nor does a number for the member's place.
        let e = c
            .zrange_withscores::<Vec<(i64, f64)>>(&key, 0, -1)
            .await
            .unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
    });
}

/// A user type, stored as `x,y`, with only `corelane_redis` imports.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

impl ToArg for Point {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(format!("{},{}", self.x, self.y).as_bytes());
    }
}

impl FromValue for Point {
    fn from_value(value: Value) -> Result<Self, Error> {
        let text = String::from_value(Value::from_value(value)?)?;
        let (x, y) = text
            .split_once(',')
            .ok_or_else(|| Error::type_mismatch(format!("expected `x,y`, got {text:?}")))?;
        Ok(Point {
            x: x.parse().map_err(Error::custom)?,
            y: y.parse().map_err(Error::custom)?,
        })
    }
}

#[test]
fn a_user_type_both_ways() {
    on_both_protocols(async |c, _, p| {
        let key = format!("{p}:point");
        c.set::<()>(&key, Point { x: 3, y: -4 }).await.unwrap();
        assert_eq!(c.get::<String>(&key).await.unwrap(), "3,-4");
        assert_eq!(c.get::<Point>(&key).await.unwrap(), Point { x: 3, y: -4 });
        assert_eq!(
            c.get::<Option<Point>>(format!("{p}:none")).await.unwrap(),
            None
        );
        // A list of them: one argument each; read back as a Vec and as a map value.
        let list = format!("{p}:points");
        let points = vec![Point { x: 0, y: 0 }, Point { x: 1, y: 2 }];
        let n: i64 = c
            .query(Cmd::new("RPUSH").arg(&list).arg(&points))
            .await
            .unwrap();
        assert_eq!(n, 2);
        let back: Vec<Point> = c
            .query(Cmd::new("LRANGE").arg(&list).arg((0, -1)))
            .await
            .unwrap();
        assert_eq!(back, points);
        let hash = format!("{p}:hpoints");
        c.hset::<()>(&hash, "home", Point { x: 5, y: 6 })
            .await
            .unwrap();
        let m: HashMap<String, Point> = c.hgetall(&hash).await.unwrap();
        assert_eq!(m["home"], Point { x: 5, y: 6 });
        // The type's own errors come back typed.
        c.set::<()>(&key, "no comma").await.unwrap();
        let e = c.get::<Point>(&key).await.unwrap_err();
        assert!(e.is_type_mismatch() && e.custom_source().is_none(), "{e}");
        c.set::<()>(&key, "1,z").await.unwrap();
        let e = c.get::<Point>(&key).await.unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        assert!(e.custom_source().unwrap().is::<std::num::ParseIntError>());
        // An error reply keeps its code through the user's impl.
        let e = c.get::<Point>(&hash).await.unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));
    });
}

#[cfg(feature = "serde_json")]
#[test]
fn json_values() {
    use corelane_redis::Json;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Session {
        user: String,
        roles: Vec<String>,
    }

    on_both_protocols(async |c, _, p| {
        let key = format!("{p}:json");
        let session = Session {
            user: "ann".into(),
            roles: vec!["admin".into()],
        };
        c.set::<()>(&key, Json(&session)).await.unwrap();
        assert_eq!(
            c.get::<String>(&key).await.unwrap(),
            r#"{"user":"ann","roles":["admin"]}"#
        );
        let Json(back) = c.get::<Json<Session>>(&key).await.unwrap();
        assert_eq!(back, session);
        let missing: Option<Json<Session>> = c.get(format!("{p}:nope")).await.unwrap();
        assert!(missing.is_none());
        // In a hash, as map values.
        let hash = format!("{p}:jsonh");
        c.hset::<()>(&hash, "s", Json(&session)).await.unwrap();
        let m: HashMap<String, Json<Session>> = c.hgetall(&hash).await.unwrap();
        assert_eq!(m["s"].0, session);
        // Text that is not a session: a type mismatch with serde_json's error.
        c.set::<()>(&key, "{}").await.unwrap();
        let e = c.get::<Json<Session>>(&key).await.unwrap_err();
        assert!(e.is_type_mismatch());
        assert!(e.custom_source().unwrap().is::<serde_json::Error>());
    });
}

#[cfg(feature = "uuid")]
#[test]
fn uuids() {
    use uuid::Uuid;

    on_both_protocols(async |c, _, p| {
        let key = format!("{p}:uuid");
        let id = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        c.set::<()>(&key, id).await.unwrap();
        assert_eq!(
            c.get::<String>(&key).await.unwrap(),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
        assert_eq!(c.get::<Uuid>(&key).await.unwrap(), id);
        let set = format!("{p}:uuids");
        let ids = [id, Uuid::from_u128(1)];
        let n: i64 = c.query(Cmd::new("SADD").arg(&set).arg(ids)).await.unwrap();
        assert_eq!(n, 2);
        let back: HashSet<Uuid> = c.smembers(&set).await.unwrap();
        assert_eq!(back, HashSet::from(ids));
        assert_eq!(
            c.get::<Option<Uuid>>(format!("{p}:nope")).await.unwrap(),
            None
        );
        c.set::<()>(&key, "not-a-uuid").await.unwrap();
        let e = c.get::<Uuid>(&key).await.unwrap_err();
        assert!(e.is_type_mismatch());
        assert!(e.custom_source().unwrap().is::<uuid::Error>());
    });
}
