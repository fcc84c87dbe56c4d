//! Throwaway Sentinel trio: the sentinels agree on the master and replace a killed one.

use corelane_testkit::resp::Reply;
use corelane_testkit::SentinelTrio;

#[test]
fn sentinels_report_the_master_and_fail_over() {
    let mut trio = SentinelTrio::start().unwrap();
    let servers = trio.server_addrs();
    let master = trio.master_addr().unwrap();
    assert_eq!(master, servers[0]);
    assert!(trio.url().starts_with("redis+sentinel://127.0.0.1:"));
    assert!(trio.url().ends_with("/mymaster"));
    let set = trio.sentinel_addrs();
    assert_eq!(set.len(), 3);
    let role = corelane_testkit::resp::command(master, &["ROLE"]).unwrap();
    assert!(
        matches!(&role, Reply::Array(p) if p[0].text() == "master"),
        "{role:?}"
    );

    trio.kill(master).unwrap();
    let new = trio.wait_failover(master).unwrap();
    assert_eq!(new, servers[1]);
}
