//! Which process owns a container wheelbuild created, from the container's labels, so that
//! the next run can remove a killed run's containers and nothing else.
//!
//! A container's owner is identified by host name, boot id, pid and the pid's start time
//! (pids are reused), so a container of a run still going, or of another machine sharing
//! the engine, is never touched. Only an owner proven gone counts: another boot, no such
//! process (`ESRCH`), or a pid that started at another time. A pid whose start time
//! cannot be read (`/proc` mounted with `hidepid`) may be the owner still running.

use std::collections::BTreeMap;

use super::LABEL;

/// Labels of every container wheelbuild creates: what it builds, and which process owns
/// it (so that the next run can remove the containers of a killed one).
pub(crate) fn labels(target: &str, key: &str) -> BTreeMap<String, String> {
    let mut labels = owner_labels();
    labels.insert(LABEL.to_string(), "1".to_string());
    labels.insert(format!("{LABEL}.target"), target.to_string());
    labels.insert(format!("{LABEL}.key"), key.to_string());
    labels
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

pub(crate) struct Owner {
    host: String,
    boot: String,
    started: u64,
}

impl Owner {
    pub(crate) fn current() -> Option<Owner> {
        Some(Owner {
            host: read_trimmed("/proc/sys/kernel/hostname")?,
            boot: read_trimmed("/proc/sys/kernel/random/boot_id")?,
            started: start_time(&std::fs::read_to_string("/proc/self/stat").ok()?)?,
        })
    }

    /// Is the owner named by `labels` a process of this machine proven to no longer run
    /// (`probe` says what this machine knows of a pid)?
    pub(crate) fn outlived(
        &self,
        labels: &BTreeMap<String, String>,
        probe: impl Fn(u32) -> Pid,
    ) -> bool {
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
pub(crate) enum Pid {
    /// No such process.
    Gone,
    /// A process that started at this time (clock ticks since boot).
    Started(u64),
    /// A process whose start time cannot be read (`/proc` with `hidepid`, or it ended
    /// meanwhile): it may be the owner.
    Unknown,
}

pub(crate) fn probe(pid: u32) -> Pid {
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
