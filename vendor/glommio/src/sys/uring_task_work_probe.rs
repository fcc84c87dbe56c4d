//! corelane patch 10 test hook: [`probe_task_work`], behind `crate::corelane_task_work_probe`.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{
    common_flags, read_flags, SleepableRing, SourceMap, UringBufferAllocator, UringCommon,
};
use crate::sys::task_work::{TaskWork, TaskWorkProbe};

/// corelane patch 10 test hook: see [`crate::corelane_task_work_probe`].
///
/// The reading thread and the writing thread are pinned to two different CPUs (when the
/// process may use two): on one CPU, the writer would run only by preempting the reader, and
/// coming back from that the reader runs its task work anyway, so nothing would be held back.
pub(crate) fn probe_task_work(task_work: TaskWork, rounds: usize) -> io::Result<TaskWorkProbe> {
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    let cpus: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .take(2)
        .collect();
    let (reader_cpu, writer_cpu) = match cpus.as_slice() {
        &[a, b] => (Some(a), Some(b)),
        _ => (None, None),
    };
    std::thread::spawn(move || {
        if let Some(cpu) = reader_cpu {
            pin_to(cpu)?;
        }
        probe_on_this_thread(task_work, rounds, writer_cpu)
    })
    .join()
    .map_err(|_| io::Error::other("the probe thread panicked"))?
}

/// Binds the calling thread to `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    crate::executor::bind_to_cpu_set([cpu]).map_err(|e| io::Error::other(e.to_string()))
}

fn probe_on_this_thread(
    task_work: TaskWork,
    rounds: usize,
    writer_cpu: Option<usize>,
) -> io::Result<TaskWorkProbe> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Arc;

    let allocator = Rc::new(UringBufferAllocator::new(65536));
    let source_map = Rc::new(RefCell::new(SourceMap::default()));
    let mut ring = SleepableRing::with_task_work(4, "main", allocator, source_map, task_work)?;
    let (mut ours, mut theirs) = UnixStream::pair()?;
    let asked = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (asked, written) = (asked.clone(), written.clone());
        std::thread::spawn(move || -> io::Result<()> {
            if let Some(cpu) = writer_cpu {
                pin_to(cpu)?;
            }
            let mut done = 0;
            while done < rounds {
                if asked.load(AtomicOrdering::Acquire) == done {
                    std::thread::park();
                    continue;
                }
                theirs.write_all(b"x")?;
                done += 1;
                written.store(done, AtomicOrdering::Release);
            }
            Ok(())
        })
    };
    let mut probe = TaskWorkProbe {
        cooperative: ring.coop_taskrun,
        rounds,
        deferred: 0,
        seen: 0,
    };
    let give_up = Instant::now() + Duration::from_secs(30);
    for round in 1..=rounds {
        // A readiness poll of our end, armed in the kernel (no data yet, so it waits).
        let mut sq = ring.ring.sq();
        let Some(mut sqe) = sq.prepare_sqe() else {
            return Err(io::Error::other("no SQE free"));
        };
        // SAFETY: `ours` outlives the request, which completes within this round; user data
        // 0 marks a completion with no source behind it.
        unsafe {
            sqe.prep_poll_add(
                std::os::fd::AsRawFd::as_raw_fd(&ours),
                common_flags() | read_flags(),
            );
            sqe.set_user_data(0);
        }
        drop(sq);
        ring.submit_sqes()?;
        // The peer writes; from here until the look below this thread makes no syscall
        // (`Instant::now` is the vDSO), so only the kernel's choice decides what we see.
        asked.store(round, AtomicOrdering::Release);
        writer.thread().unpark();
        while written.load(AtomicOrdering::Acquire) < round {
            if Instant::now() > give_up {
                return Err(io::Error::other("the peer thread did not write"));
            }
            std::hint::spin_loop();
        }
        if ring.task_work_pending() && ring.ring.cq().ready() == 0 {
            probe.deferred += 1;
        }
        // One look, as a spinning executor's loop turn makes.
        if ring.consume_completion_queue(&mut 0) > 0 {
            probe.seen += 1;
        } else {
            // Not seen: wait for it, so the next round starts in step.
            ring.ring.cq().wait(1)?;
            ring.consume_completion_queue(&mut 0);
        }
        let mut byte = [0u8; 1];
        ours.read_exact(&mut byte)?;
    }
    writer
        .join()
        .map_err(|_| io::Error::other("the peer thread panicked"))??;
    Ok(probe)
}
