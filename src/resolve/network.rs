//! Time limits of network requests, their retries, and reports while one is slow.
//!
//! A per-read timeout does not bound a request: a server trickling a byte now and then
//! resets it forever. So every registry request and git command runs under one deadline
//! for the whole exchange, and whoever runs it hears about it while it is outstanding
//! (the core never prints).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Time limits of registry requests and git commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NetworkSettings {
    /// Establishing a connection to a registry.
    pub connect_timeout: Duration,
    /// One registry request, from sending it to the last byte of its answer; one
    /// `git ls-remote`.
    pub request_timeout: Duration,
    /// Any other git command: fetching history, which can legitimately take minutes
    /// for a big repository, and checking it out.
    pub fetch_timeout: Duration,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(600),
        }
    }
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Total attempts, including the first.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `attempt` (0 for the first retry).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        // ±25% jitter so concurrent retries do not stampede; no RNG needed for that.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = 0.75 + f64::from(nanos % 1000) / 2000.0;
        self.base
            .mul_f64(f64::from(1u32 << attempt.min(10)) * jitter)
    }
}

/// A request still outstanding, reported every [`WAIT_REPORT_EVERY`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitEvent<'a> {
    /// What is waited for: `manifest repository:tag from registry (attempt N)`, or a git
    /// URL.
    pub what: &'a str,
    /// Since the wait began (its first attempt, for requests that are retried).
    pub elapsed: Duration,
    /// When it is given up, counted from the same start.
    pub limit: Duration,
}

/// Told about requests that are slow to complete.
pub(crate) type WaitObserver = Arc<dyn Fn(&WaitEvent<'_>) + Send + Sync>;

pub(crate) const WAIT_REPORT_EVERY: Duration = Duration::from_secs(5);

/// One time limit for work of several requests (an image input's manifests and config,
/// each retried): every attempt fits in what is left of it, so retries cannot multiply
/// the wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    started: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    /// A deadline `limit` from now.
    pub(crate) fn start(limit: Duration) -> Deadline {
        Deadline {
            started: tokio::time::Instant::now(),
            limit,
        }
    }

    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Time left (zero once it has passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.started.elapsed())
    }
}

/// Run `request` for at most `limit`, telling `on_wait` about it every
/// [`WAIT_REPORT_EVERY`] while it is outstanding. `None` when the deadline passed; the
/// request is dropped then, which cancels it (and kills a `kill_on_drop` child).
pub(crate) async fn within<T>(
    limit: Duration,
    what: &str,
    on_wait: Option<&WaitObserver>,
    request: impl Future<Output = T>,
) -> Option<T> {
    within_deadline(&Deadline::start(limit), limit, what, on_wait, request).await
}

/// Run `request` for at most `limit` and never past `deadline`, telling `on_wait` about
/// it every [`WAIT_REPORT_EVERY`] of the deadline's time (reports go on from one attempt
/// to the next) while it is outstanding. `None` when the time is up; the request is
/// dropped then, which cancels it.
pub(crate) async fn within_deadline<T>(
    deadline: &Deadline,
    limit: Duration,
    what: &str,
    on_wait: Option<&WaitObserver>,
    request: impl Future<Output = T>,
) -> Option<T> {
    let request = tokio::time::timeout(limit.min(deadline.remaining()), request);
    let Some(observer) = on_wait else {
        return request.await.ok();
    };
    tokio::pin!(request);
    // Reports fall on multiples of the period since the deadline's start, whichever
    // attempt is under way then.
    let now = tokio::time::Instant::now();
    let into_period = (now - deadline.started).as_nanos() % WAIT_REPORT_EVERY.as_nanos();
    let first = now + (WAIT_REPORT_EVERY - Duration::from_nanos(into_period as u64));
    let mut ticks = tokio::time::interval_at(first, WAIT_REPORT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            result = &mut request => return result.ok(),
            _ = ticks.tick() => observer(&WaitEvent {
                what,
                elapsed: deadline.started.elapsed(),
                limit: deadline.limit,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let p = RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(100),
        };
        for attempt in 0..3u32 {
            let d = p.delay(attempt).as_millis();
            let nominal = 100 * (1u128 << attempt);
            assert!(
                d >= nominal * 3 / 4 && d <= nominal * 5 / 4,
                "attempt {attempt}: {d}ms"
            );
        }
    }

    type Seen = Arc<Mutex<Vec<(String, u64, u64)>>>;

    /// An observer that keeps what it is told: (what, elapsed s, limit s).
    fn recorder() -> (Seen, WaitObserver) {
        let seen = Seen::default();
        let observer: WaitObserver = {
            let seen = seen.clone();
            Arc::new(move |e: &WaitEvent<'_>| {
                seen.lock().unwrap().push((
                    e.what.to_string(),
                    e.elapsed.as_secs(),
                    e.limit.as_secs(),
                ))
            })
        };
        (seen, observer)
    }

    #[tokio::test(start_paused = true)]
    async fn reports_every_five_seconds_until_the_deadline() {
        let (seen, observer) = recorder();
        let never = std::future::pending::<()>();
        let out = within(Duration::from_secs(12), "r (x:y)", Some(&observer), never).await;
        assert_eq!(out, None);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("r (x:y)".to_string(), 5, 12),
                ("r (x:y)".to_string(), 10, 12)
            ]
        );

        let quick = async { 7 };
        assert_eq!(
            within(Duration::from_secs(1), "q", Some(&observer), quick).await,
            Some(7)
        );
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "no report for a quick request"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_share_the_deadline_and_its_reports() {
        let (seen, observer) = recorder();
        let deadline = Deadline::start(Duration::from_secs(12));
        let never = || std::future::pending::<()>();
        let limit = Duration::from_secs(6);
        let first = within_deadline(&deadline, limit, "1", Some(&observer), never()).await;
        assert_eq!(first, None);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Cut at the deadline, 5 s into its 6.
        let second = within_deadline(&deadline, limit, "2", Some(&observer), never()).await;
        assert_eq!(second, None);
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert_eq!(
            *seen.lock().unwrap(),
            [("1".to_string(), 5, 12), ("2".to_string(), 10, 12)]
        );
    }
}
