//! What a killed run leaves behind, removed by the next one: containers labelled with an
//! owner process that is gone, and store staging directories nobody holds.
//!
//! A container's owner is identified by host name, boot id, pid and the pid's start time
//! (pids are reused), so a container of a run still going, or of another machine sharing
//! the engine, is never touched.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::docker::{DockerError, Engine, LABEL};
use crate::store::{Store, StoreError};

/// What was removed.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Container ids.
    pub containers: Vec<String>,
    pub staging: Vec<PathBuf>,
}

impl Cleanup {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.staging.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Remove the leftovers of killed runs: staging directories always, containers when the
/// engine is connected (it is not contacted for this alone).
pub async fn cleanup(engine: &Engine, store: &Store) -> Result<Cleanup, CleanupError> {
    let mut done = Cleanup {
        staging: store.remove_stale_staging()?,
        ..Cleanup::default()
    };
    if !engine.is_connected() {
        return Ok(done);
    }
    let me = Owner::current();
    for (id, labels) in engine.labelled_containers().await? {
        if me.as_ref().is_some_and(|me| me.outlived(&labels)) {
            engine.remove(&id).await?;
            done.containers.push(id);
        }
    }
    Ok(done)
}

/// Labels naming this process as a container's owner.
pub fn owner_labels() -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(format!("{LABEL}.pid"), std::process::id().to_string())]);
    if let Some(me) = Owner::current() {
        labels.insert(format!("{LABEL}.host"), me.host);
        labels.insert(format!("{LABEL}.boot"), me.boot);
        labels.insert(format!("{LABEL}.started"), me.started.to_string());
    }
    labels
}

struct Owner {
    host: String,
    boot: String,
    started: u64,
}

impl Owner {
    fn current() -> Option<Owner> {
        Some(Owner {
            host: read_trimmed("/proc/sys/kernel/hostname")?,
            boot: read_trimmed("/proc/sys/kernel/random/boot_id")?,
            started: start_time(std::process::id())?,
        })
    }

    /// Is the owner named by `labels` a process of this machine that no longer runs?
    fn outlived(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |name: &str| labels.get(&format!("{LABEL}.{name}"));
        let (Some(host), Some(boot), Some(pid), Some(started)) =
            (get("host"), get("boot"), get("pid"), get("started"))
        else {
            return false;
        };
        if *host != self.host {
            return false;
        }
        if *boot != self.boot {
            return true;
        }
        match pid.parse().ok().and_then(start_time) {
            None => true,
            Some(now) => now.to_string() != *started,
        }
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = Owner::current().expect("/proc is readable");
        let labels = owner_labels();
        assert!(!me.outlived(&labels), "{labels:?}");

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let mut dead = labels.clone();
        dead.insert(format!("{LABEL}.pid"), pid.to_string());
        dead.insert(
            format!("{LABEL}.started"),
            start_time(pid).unwrap_or(0).to_string(),
        );
        child.wait().unwrap();
        assert!(me.outlived(&dead), "a reaped process is gone");

        let mut reused = labels.clone();
        reused.insert(format!("{LABEL}.started"), "1".into());
        assert!(
            me.outlived(&reused),
            "same pid, other start time: pid reused"
        );

        let mut rebooted = labels.clone();
        rebooted.insert(format!("{LABEL}.boot"), "another-boot".into());
        assert!(me.outlived(&rebooted));

        let mut elsewhere = dead.clone();
        elsewhere.insert(format!("{LABEL}.host"), "another-machine".into());
        assert!(
            !me.outlived(&elsewhere),
            "another machine's containers are left alone"
        );
        assert!(
            !me.outlived(&BTreeMap::new()),
            "no owner labels: cannot tell"
        );
    }
}
