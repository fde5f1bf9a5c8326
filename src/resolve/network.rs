//! Time limits of network requests, and reports while one is slow.
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

/// A request still outstanding, reported every [`WAIT_REPORT_EVERY`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitEvent<'a> {
    /// What is waited for: `registry (repository:tag)`, or a git URL.
    pub what: &'a str,
    pub elapsed: Duration,
    /// When the request is given up.
    pub limit: Duration,
}

/// Told about requests that are slow to complete.
pub(crate) type WaitObserver = Arc<dyn Fn(&WaitEvent<'_>) + Send + Sync>;

pub(crate) const WAIT_REPORT_EVERY: Duration = Duration::from_secs(5);

/// Run `request` for at most `limit`, telling `on_wait` about it every
/// [`WAIT_REPORT_EVERY`] while it is outstanding. `None` when the deadline passed; the
/// request is dropped then, which cancels it (and kills a `kill_on_drop` child).
pub(crate) async fn within<T>(
    limit: Duration,
    what: &str,
    on_wait: Option<&WaitObserver>,
    request: impl Future<Output = T>,
) -> Option<T> {
    let request = tokio::time::timeout(limit, request);
    let Some(observer) = on_wait else {
        return request.await.ok();
    };
    let started = tokio::time::Instant::now();
    tokio::pin!(request);
    let mut ticks = tokio::time::interval_at(started + WAIT_REPORT_EVERY, WAIT_REPORT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            result = &mut request => return result.ok(),
            _ = ticks.tick() => observer(&WaitEvent { what, elapsed: started.elapsed(), limit }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test(start_paused = true)]
    async fn reports_every_five_seconds_until_the_deadline() {
        let seen = Arc::new(Mutex::new(Vec::new()));
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
}
