//! glommio patch 11 (vendor/glommio/CORELANE_PATCHES.md): the reactor reads the clock for an
//! operation's queued, submitted and fulfilled times only when its latencies are collected
//! (file reads on an executor built with `record_io_latencies(true)`). Before, every operation
//! — every readiness poll of every socket — read it three times for times nobody looked at.

use std::time::Duration;

/// On a reactor of the probe's own: the two sources that collect no latencies have none of
/// the three times; the one that does has all three, in order.
#[test]
fn only_operations_whose_latency_is_collected_read_the_clock() {
    let probe = glommio::corelane_latency_timestamps_probe().unwrap();
    assert_eq!(probe.untimed, 2, "{probe:?}");
    assert_eq!(probe.untimed_stamps, 0, "{probe:?}");
    assert_eq!(probe.timed_stamps, 3, "{probe:?}");
    assert!(probe.timed_in_order, "{probe:?}");
}

/// What the collection is for still works: an executor that records I/O latencies has one
/// sample per file read, and one that does not has none.
#[test]
fn file_read_latencies_are_still_recorded_when_asked_for() {
    let samples = |record: bool| -> usize {
        let path = std::env::temp_dir().join(format!(
            "corelane-io-timestamps-{}-{record}",
            std::process::id()
        ));
        let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .record_io_latencies(record)
            .spin_before_park(Duration::ZERO)
            .spawn(move || async move {
                let file = glommio::io::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .buffered_open(&path)
                    .await
                    .unwrap();
                file.write_at(vec![7u8; 4096], 0).await.unwrap();
                for _ in 0..3 {
                    let read = file.read_at(0, 4096).await.unwrap();
                    assert_eq!(read.len(), 4096);
                }
                file.close().await.unwrap();
                let _ = std::fs::remove_file(&path);
                glommio::executor()
                    .io_stats()
                    .all_rings()
                    .io_latency_us()
                    .count()
            })
            .unwrap();
        handle.join().unwrap()
    };
    assert_eq!(samples(true), 3);
    assert_eq!(samples(false), 0);
}
