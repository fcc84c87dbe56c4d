//! `resolve`: the shared standalone loop (refcounted) and a server's own workers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::toy_server::ToyEchoServer;
use crate::support::{run_on, Lines};
use corelane_runtime::roundtrip::Pipe;
use corelane_runtime::{
    resolve, standalone_running, standalone_starts, Limits, Stream, WorkerLoop,
};

/// The standalone loop is process-global: these tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn two_resolves_share_one_loop_and_the_last_drop_shuts_it_down() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let starts = standalone_starts();
    let a = resolve(None).unwrap();
    let b = resolve(None).unwrap();
    assert!(a.is_standalone() && b.is_standalone());
    assert_eq!(
        standalone_starts(),
        starts + 1,
        "the second resolve started a loop"
    );
    assert_eq!(a.num_workers(), b.num_workers());

    // Same workers: b's worker 0 is the thread a's worker 0 runs on.
    let b0 = b.worker(0).unwrap().clone();
    assert!(run_on(a.worker(0).unwrap(), move || async move {
        b0.is_current()
    }));
    let old_worker = a.worker(0).unwrap().clone();

    drop(a);
    assert!(standalone_running(), "one lease left, the loop must live");
    assert!(old_worker.is_running());
    drop(b);
    assert!(!standalone_running());
    assert!(
        !old_worker.is_running(),
        "the last drop must stop the workers"
    );
    assert!(old_worker.submit(|| ()).is_err());

    let c = resolve(None).unwrap();
    assert_eq!(
        standalone_starts(),
        starts + 2,
        "a third resolve starts a fresh loop"
    );
    let id = run_on(c.worker(0).unwrap(), || async {
        WorkerLoop::current().map(|w| w.id())
    });
    assert_eq!(id, Some(0));
    let c2 = c.clone();
    drop(c);
    assert!(standalone_running(), "a clone is a lease too");
    drop(c2);
    assert!(!standalone_running());
}

#[test]
fn last_lease_dropped_on_a_worker_does_not_deadlock() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let provider = resolve(None).unwrap();
    let worker = provider.worker(0).unwrap().clone();
    worker.submit(move || drop(provider)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while standalone_running() || worker.is_running() {
        assert!(Instant::now() < deadline, "the loop did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_server_provider_serves_driver_connections_on_its_own_workers() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = ToyEchoServer::start(2);
    let starts = standalone_starts();
    let provider = resolve(Some(&server)).unwrap();
    assert!(!provider.is_standalone());
    assert_eq!(provider.num_workers(), 2);

    let addr = server.addr;
    let server_worker = server.workers()[1].clone();
    let (on_server_worker, reply) = run_on(provider.worker(1).unwrap(), move || async move {
        let pipe = Pipe::new(
            Stream::connect_tcp(addr).await.unwrap(),
            Lines,
            Limits::default(),
        )
        .unwrap();
        let reply = pipe
            .call((), |b| b.extend_from_slice(b"hello\n"))
            .await
            .unwrap();
        (server_worker.is_current(), reply)
    });
    assert!(
        on_server_worker,
        "the driver task did not run on the server's worker"
    );
    assert_eq!(reply, &b"hello\n"[..]);
    let served = server.served_on.lock().unwrap().clone();
    assert_eq!(served.len(), 1);
    assert!(
        served[0] < 2,
        "accepted off the server's workers: {served:?}"
    );
    assert_eq!(standalone_starts(), starts, "a standalone loop was started");
    assert!(!standalone_running());
}
