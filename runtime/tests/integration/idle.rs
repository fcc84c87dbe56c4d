//! An idle worker sleeps: after a burst of round trips, timers and mailbox jobs, a worker with
//! nothing to do (but an open connection) uses next to no CPU. glommio 0.9.0 as published spun
//! at 50–70% of a core here (see vendor/glommio/CORELANE_PATCHES.md, patch 2); this guards it.
//! CPU time, not wall time, is measured, so a loaded machine does not make it fail.

use std::time::Duration;

use crate::support::{run_on, test_loop, EchoServer, Lines};
use corelane_runtime::roundtrip::Pipe;
use corelane_runtime::{task, ThreadBound};
use corelane_runtime::{Limits, Stream};

/// utime + stime of one thread of this process, in clock ticks.
fn thread_cpu_ticks(tid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; the fields after its closing ')' do not.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn an_idle_worker_sleeps_after_a_burst_of_work() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let server = EchoServer::start();
    let addr = server.addr;
    // The burst, left with an open idle connection: round trips one at a time and from 64
    // concurrent callers, timers, yields.
    let (tid, pipe) = run_on(&worker, move || async move {
        let tid = std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let stream = Stream::connect_tcp(addr).await.unwrap();
        let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
        for i in 0..2000 {
            let line = format!("burst-{i}\n");
            let reply = pipe
                .call((), |b| b.extend_from_slice(line.as_bytes()))
                .await
                .unwrap();
            assert_eq!(&reply[..], line.as_bytes());
            if i % 100 == 0 {
                task::sleep(Duration::from_millis(1)).await;
                task::yield_now().await;
            }
        }
        // 64 concurrent callers on the one connection (the bridge queue) for a while.
        let pipe = std::rc::Rc::new(pipe);
        let callers: Vec<_> = (0..64)
            .map(|t| {
                let pipe = pipe.clone();
                task::spawn(async move {
                    for i in 0..300 {
                        let line = format!("caller-{t}-{i}\n");
                        let reply = pipe
                            .call((), |b| b.extend_from_slice(line.as_bytes()))
                            .await
                            .unwrap();
                        assert_eq!(&reply[..], line.as_bytes());
                    }
                })
                .unwrap()
            })
            .collect();
        for caller in callers {
            caller.await;
        }
        (tid, ThreadBound::new(pipe))
    });
    // Mailbox jobs too (the Latency::Matters queue arms the 1 ms preemption timer).
    for _ in 0..200 {
        run_on(&worker, || async {});
    }
    // Let any timer armed during the burst fire, then measure a quiet second.
    std::thread::sleep(Duration::from_millis(300));
    let before = thread_cpu_ticks(&tid);
    std::thread::sleep(Duration::from_secs(1));
    let used = thread_cpu_ticks(&tid) - before;
    let allowed = ticks_per_second() / 10;
    assert!(
        used <= allowed,
        "the idle worker used {used} clock ticks of CPU in 1 s (allowed {allowed}, 10% of a core): it is not sleeping"
    );
    // The connection was open (registered on the worker) all along; close it there.
    run_on(&worker, move || async move { drop(pipe.into_inner()) });
}
