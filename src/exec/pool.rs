//! Build slots across a pool of engines: each engine has `jobs` slots; a target takes a
//! free slot on an engine that can build it (its platform, a GPU when it needs one), waits
//! when all of those are busy, and learns at once when none is left (every such engine is
//! gone). Engines that run its platform natively are the only ones it uses while one of
//! them is up: emulation (many times slower) is for platforms no engine up runs natively. The engine running the fewest builds is chosen (declaration order among equals), so a pool fills
//! every engine before stacking builds on one.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::config::Runs;

/// Slots per engine, by index into the run's engines.
pub(super) struct Pool {
    state: Mutex<Vec<Engine>>,
    freed: Notify,
}

struct Engine {
    free: usize,
    jobs: usize,
    /// Gone (unreachable mid-run): never handed out again.
    down: bool,
}

/// A slot on engine `index`, given back when dropped.
pub(super) struct Slot<'a> {
    pool: &'a Pool,
    pub index: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.pool.state.lock() {
            let e = &mut state[self.index];
            e.free = (e.free + 1).min(e.jobs);
        }
        self.pool.freed.notify_waiters();
    }
}

impl Pool {
    /// One engine per entry of `jobs`, with that many slots (at least one).
    pub(super) fn new(jobs: &[usize]) -> Pool {
        Pool {
            state: Mutex::new(
                jobs.iter()
                    .map(|&j| Engine {
                        free: j.max(1),
                        jobs: j.max(1),
                        down: false,
                    })
                    .collect(),
            ),
            freed: Notify::new(),
        }
    }

    /// Slots of the engines still up: how many targets may run at once.
    pub(super) fn slots(&self) -> usize {
        self.state
            .lock()
            .map(|s| s.iter().filter(|e| !e.down).map(|e| e.jobs).sum())
            .unwrap_or(1)
            .max(1)
    }

    /// Wait for a slot on an engine that is up and that `runs` says runs the target, among
    /// the best-running ones up (native before emulated); `None` when no such engine is up
    /// any more.
    pub(super) async fn acquire(&self, runs: impl Fn(usize) -> Option<Runs>) -> Option<Slot<'_>> {
        loop {
            // Registered before looking, so a slot freed in between still wakes us.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.state.lock().ok()?;
                let up = |(i, e): (usize, &Engine)| (!e.down).then(|| runs(i)).flatten();
                let best_runs = state.iter().enumerate().filter_map(up).min()?;
                let eligible = state
                    .iter()
                    .enumerate()
                    .filter(|&(i, e)| up((i, e)) == Some(best_runs));
                // The engine running the fewest builds (the first of equals).
                let best = eligible
                    .filter(|(_, e)| e.free > 0)
                    .min_by_key(|(i, e)| (e.jobs - e.free, *i));
                if let Some((index, _)) = best {
                    state[index].free -= 1;
                    return Some(Slot { pool: self, index });
                }
            }
            freed.await;
        }
    }

    /// Engine `index` is gone: no new slot there, and waiters that can only use it learn
    /// so.
    pub(super) fn mark_down(&self, index: usize) {
        if let Ok(mut state) = self.state.lock() {
            state[index].down = true;
        }
        self.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn any(_: usize) -> Option<Runs> {
        Some(Runs::Native)
    }

    #[tokio::test]
    async fn every_engine_is_filled_before_one_gets_two() {
        let pool = Pool::new(&[2, 1]);
        let a = pool.acquire(any).await.unwrap();
        let b = pool.acquire(any).await.unwrap();
        assert_eq!((a.index, b.index), (0, 1), "the emptiest engine first");
        let c = pool.acquire(any).await.unwrap();
        assert_eq!(c.index, 0);
        assert_eq!(pool.slots(), 3);
    }

    #[tokio::test]
    async fn a_target_waits_for_an_engine_it_can_use_not_any_free_one() {
        let pool = Arc::new(Pool::new(&[1, 1]));
        let gpu_only = |i: usize| (i == 1).then_some(Runs::Native);
        let held = pool.acquire(gpu_only).await.unwrap();
        assert!(pool.acquire(any).await.is_some_and(|s| s.index == 0));
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire(gpu_only).await.map(|s| s.index) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "engine 0 is free but cannot build it"
        );
        drop(held);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken when the GPU engine's slot frees")
            .unwrap();
        assert_eq!(got, Some(1));
    }

    #[tokio::test]
    async fn when_the_only_usable_engine_goes_down_waiters_get_none() {
        let pool = Arc::new(Pool::new(&[1, 1]));
        let held = pool
            .acquire(|i| (i == 1).then_some(Runs::Native))
            .await
            .unwrap();
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.acquire(|i| (i == 1).then_some(Runs::Native))
                    .await
                    .map(|s| s.index)
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        pool.mark_down(1);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, None);
        drop(held);
        assert_eq!(pool.slots(), 1, "only engine 0's slot is left");
        // Retried elsewhere: engine 0 still serves what it can.
        assert_eq!(pool.acquire(any).await.map(|s| s.index), Some(0));
    }

    #[tokio::test]
    async fn an_emulating_engine_takes_a_target_only_while_no_native_one_is_up() {
        let pool = Arc::new(Pool::new(&[1, 1]));
        // Engine 0 emulates the target's platform, engine 1 runs it natively.
        let arm = |i: usize| Some(if i == 1 { Runs::Native } else { Runs::Emulated });
        let held = pool.acquire(arm).await.unwrap();
        assert_eq!(held.index, 1, "the native engine, though both are free");
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire(arm).await.map(|s| s.index) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the emulating engine is free, but the native one is only busy"
        );
        pool.mark_down(1);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken when the native engine goes down")
            .unwrap();
        assert_eq!(got, Some(0), "emulated once no native engine is up");
    }

    #[tokio::test]
    async fn never_more_builds_than_slots() {
        let pool = Arc::new(Pool::new(&[2, 1]));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    let _slot = pool.acquire(any).await.unwrap();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
