//! Data parallelism for the few places that do per-target work on big matrices.

/// `f` of each item, in order, on `threads` threads (the calling thread is one) that take
/// the next item as they finish one: items of uneven cost (directories of a few or many
/// wheels) keep every thread busy, where fixed halves left one idle. `threads <= 1` runs
/// everything here.
pub fn map_each<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    if threads <= 1 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads.min(items.len()))
            .map(|_| scope.spawn(work))
            .collect();
        let mut all = work();
        for w in workers {
            all.extend(w.join().expect("worker thread panicked"));
        }
        all
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Worker threads worth using for `n` items of per-target work: a thread costs tens of
/// microseconds, so small inputs stay on one.
pub fn threads_for(n: usize) -> usize {
    cores().min(n / 256).max(1)
}

/// The CPUs this process may run on, asked once, with one system call. std's
/// `available_parallelism` also reads the cgroup's CPU quota from /proc and /sys (a
/// quarter of a millisecond here, as much as a thousand targets' parallel step saves);
/// a quota only slows these short steps' threads, it does not break them.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        rustix::thread::sched_getaffinity(None).map_or(1, |cpus| cpus.count().max(1) as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_result_comes_back_in_input_order() {
        let items: Vec<u64> = (0..500).collect();
        for threads in [1, 2, 3, 8] {
            // Uneven work, so that threads finish out of order.
            let out = map_each(&items, threads, |&i| {
                if i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                i * 2
            });
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert_eq!(map_each(&[] as &[u8], 4, |&b| b), Vec::<u8>::new());
    }
}
