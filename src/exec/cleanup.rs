//! What a killed run leaves behind, removed by the next one: containers labelled with an
//! owner process that is gone, and store staging directories nobody holds.
//!
//! A container's owner is identified by host name, boot id, pid and the pid's start time
//! (pids are reused), so a container of a run still going, or of another machine sharing
//! the engine, is never touched. Only an owner proven gone counts: another boot, no such
//! process (`ESRCH`), or a pid that started at another time. A pid whose start time
//! cannot be read (`/proc` mounted with `hidepid`) may be the owner still running.

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
        if me.as_ref().is_some_and(|me| me.outlived(&labels, probe)) {
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
            started: start_time(&std::fs::read_to_string("/proc/self/stat").ok()?)?,
        })
    }

    /// Is the owner named by `labels` a process of this machine proven to no longer run
    /// (`probe` says what this machine knows of a pid)?
    fn outlived(&self, labels: &BTreeMap<String, String>, probe: impl Fn(u32) -> Pid) -> bool {
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
        let Ok(pid) = pid.parse() else {
            return false;
        };
        match probe(pid) {
            Pid::Gone => true,
            Pid::Started(now) => now.to_string() != *started,
            Pid::Unknown => false,
        }
    }
}

/// What this machine can tell of a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pid {
    /// No such process.
    Gone,
    /// A process that started at this time (clock ticks since boot).
    Started(u64),
    /// A process whose start time cannot be read (`/proc` with `hidepid`, or it ended
    /// meanwhile): it may be the owner.
    Unknown,
}

fn probe(pid: u32) -> Pid {
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Pid::Unknown;
    };
    // Signal 0 checks that the process exists; EPERM says it does (another user's).
    if rustix::process::test_kill_process(raw) == Err(rustix::io::Errno::SRCH) {
        return Pid::Gone;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| start_time(&stat))
        .map_or(Pid::Unknown, Pid::Started)
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// A process's start time (clock ticks since boot), field 22 of its `/proc/<pid>/stat`.
fn start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(
        labels: &BTreeMap<String, String>,
        name: &str,
        value: &str,
    ) -> BTreeMap<String, String> {
        let mut labels = labels.clone();
        labels.insert(format!("{LABEL}.{name}"), value.into());
        labels
    }

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = Owner::current().expect("/proc is readable");
        let labels = owner_labels();
        assert!(!me.outlived(&labels, probe), "{labels:?}");

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let Pid::Started(started) = probe(pid) else {
            panic!("a child that is not reaped yet is there")
        };
        let dead = label(
            &label(&labels, "pid", &pid.to_string()),
            "started",
            &started.to_string(),
        );
        child.wait().unwrap();
        assert_eq!(probe(pid), Pid::Gone);
        assert!(me.outlived(&dead, probe), "a reaped process is gone");

        let reused = label(&labels, "started", "1");
        assert!(
            me.outlived(&reused, probe),
            "same pid, other start time: pid reused"
        );
        assert!(me.outlived(&label(&labels, "boot", "another-boot"), probe));
        assert!(
            !me.outlived(&label(&dead, "host", "another-machine"), probe),
            "another machine's containers are left alone"
        );
        assert!(
            !me.outlived(&BTreeMap::new(), probe),
            "no owner labels: cannot tell"
        );
    }

    /// Regression: with `/proc` mounted `hidepid`, the stat of another user's running
    /// build cannot be read, and its containers were removed as a dead run's.
    #[test]
    fn a_run_whose_start_time_cannot_be_read_keeps_its_containers() {
        let me = Owner::current().expect("/proc is readable");
        let labels = label(&owner_labels(), "pid", "4242");
        assert!(!me.outlived(&labels, |_| Pid::Unknown));
        assert!(
            !me.outlived(&label(&labels, "pid", "not-a-pid"), |_| Pid::Gone),
            "a pid that is no pid proves nothing"
        );
        assert!(me.outlived(&labels, |_| Pid::Gone), "no such process");
        assert!(
            me.outlived(&labels, |_| Pid::Started(1)),
            "pid 4242 is another process now"
        );
        assert!(!me.outlived(&labels, |_| Pid::Started(me.started)));
    }
}
