//! Shared bits of corelane's examples: finding (or starting) the servers they talk to.

use corelane_testkit::{PgTarget, RedisTarget};

/// The Redis server to use: `REDIS_URL` when set, else a throwaway `redis-server` (kept alive
/// by the returned guard).
pub fn redis() -> Result<RedisTarget, corelane_testkit::Error> {
    let target = corelane_testkit::redis_url()?;
    match &target {
        RedisTarget::External(url) => println!("using REDIS_URL={url}"),
        _ => println!("started a throwaway redis-server at {}", target.url()),
    }
    Ok(target)
}

/// The PostgreSQL server to use: `DATABASE_URL` when set, else a throwaway one.
pub fn postgres() -> Result<PgTarget, corelane_testkit::Error> {
    let target = corelane_testkit::database_url()?;
    match &target {
        PgTarget::External(_) => println!("using DATABASE_URL"),
        _ => println!("started a throwaway PostgreSQL on {}", target.url()),
    }
    Ok(target)
}
