//! Job slots: run many futures with at most `jobs` at once, starting the next one as soon
//! as any slot frees, and hand the results back in input order.
//!
//! `futures::StreamExt::buffered(n)` is not that: it counts finished-but-not-yet-yielded
//! futures as running, so one long future at the head keeps every later slot empty.

use futures::StreamExt;

/// Run `tasks` at most `jobs` at a time (at least one), whatever order they finish in;
/// results in the order of `tasks`.
pub async fn run_all<T, F>(tasks: impl IntoIterator<Item = F>, jobs: usize) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut results: Vec<(usize, T)> = futures::stream::iter(
        tasks
            .into_iter()
            .enumerate()
            .map(|(i, task)| async move { (i, task.await) }),
    )
    .buffer_unordered(jobs.max(1))
    .collect()
    .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// Regression: with `buffered`, a long task at the head held its slot's neighbours
    /// back. Here the long task only finishes once the last short one has run, which is
    /// possible only if short tasks keep refilling the other slot.
    #[tokio::test]
    async fn a_long_target_does_not_hold_back_short_ones() {
        let last_short_done = Arc::new(Notify::new());
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let shorts = 6;
        let tasks = (0..=shorts).map(|i| {
            let done = last_short_done.clone();
            let (running, max_running) = (running.clone(), max_running.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_running.fetch_max(now, Ordering::SeqCst);
                if i == 0 {
                    done.notified().await;
                } else {
                    tokio::task::yield_now().await;
                    if i == shorts {
                        done.notify_one();
                    }
                }
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let results = tokio::time::timeout(std::time::Duration::from_secs(10), run_all(tasks, 2))
            .await
            .expect("the short tasks must run while the long one waits");
        assert_eq!(results, (0..=shorts).collect::<Vec<_>>(), "input order");
        assert_eq!(
            max_running.load(Ordering::SeqCst),
            2,
            "never more than `jobs`"
        );
    }

    #[tokio::test]
    async fn zero_jobs_means_one() {
        let results = run_all((0..3).map(|i| async move { i * 2 }), 0).await;
        assert_eq!(results, [0, 2, 4]);
    }
}
