//! What changed between two locks, for `lock`'s report (`old -> new`).

use std::collections::BTreeMap;
use std::fmt;

use super::{LockedEnvironment, LockedGit, LockedImage, Lockfile, short_digest};

/// One line of `lock`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Added {
        what: String,
        new: String,
    },
    Updated {
        what: String,
        old: String,
        new: String,
    },
    Removed {
        what: String,
        old: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { what, new } => write!(f, "+ {what}: {new}"),
            Change::Updated { what, old, new } => write!(f, "~ {what}: {old} -> {new}"),
            Change::Removed { what, old } => write!(f, "- {what}: {old}"),
        }
    }
}

/// Differences between two locks, image entries first, each group in lock order.
pub(crate) fn diff(old: Option<&Lockfile>, new: &Lockfile) -> Vec<Change> {
    let empty = Lockfile::new(String::new(), vec![], vec![], vec![]);
    let old = old.unwrap_or(&empty);
    let mut changes = Vec::new();
    images(old, new, &mut changes);
    git(old, new, &mut changes);
    environments(old, new, &mut changes);
    changes
}

/// The entries of `after` that `before` lacks (added) or holds with a `changed` value
/// (updated), in key order, then those of `before` that `after` lacks (removed). `what`
/// names an entry; `shown(value, other)` writes one side, given the other side's value
/// when there is one.
fn keyed<K: Ord, V>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    what: impl Fn(&K) -> String,
    changed: impl Fn(&V, &V) -> bool,
    shown: impl Fn(&V, Option<&V>) -> String,
    changes: &mut Vec<Change>,
) {
    for (key, n) in after {
        match before.get(key) {
            None => changes.push(Change::Added {
                what: what(key),
                new: shown(n, None),
            }),
            Some(o) if changed(o, n) => changes.push(Change::Updated {
                what: what(key),
                old: shown(o, Some(n)),
                new: shown(n, Some(o)),
            }),
            Some(_) => {}
        }
    }
    for (key, o) in before {
        if !after.contains_key(key) {
            changes.push(Change::Removed {
                what: what(key),
                old: shown(o, None),
            });
        }
    }
}

/// Image entries, by reference and platform: their digests.
fn images(old: &Lockfile, new: &Lockfile, changes: &mut Vec<Change>) {
    let images = |l: &Lockfile| -> BTreeMap<(String, String), LockedImage> {
        l.images
            .iter()
            .map(|i| ((i.reference.clone(), i.platform.clone()), i.clone()))
            .collect()
    };
    keyed(
        &images(old),
        &images(new),
        |(reference, platform)| format!("image {reference} ({platform})"),
        |o, n| o != n,
        |i, _| match &i.index_digest {
            Some(index) => format!(
                "{} (index {})",
                short_digest(&i.manifest_digest),
                short_digest(index)
            ),
            None => short_digest(&i.manifest_digest),
        },
        changes,
    );
}

/// Git entries, by URL and ref: their commits.
fn git(old: &Lockfile, new: &Lockfile, changes: &mut Vec<Change>) {
    let gits = |l: &Lockfile| -> BTreeMap<(String, Option<String>), LockedGit> {
        l.git
            .iter()
            .map(|g| ((g.url.clone(), g.reference.clone()), g.clone()))
            .collect()
    };
    keyed(
        &gits(old),
        &gits(new),
        |(url, reference)| format!("git {url} @ {}", reference.as_deref().unwrap_or("HEAD")),
        // Build requirements read at the same commit show with their environments.
        |o, n| (&o.kind, &o.resolved, &o.commit) != (&n.kind, &n.resolved, &n.commit),
        |g, _| format!("{} ({})", &g.commit[..12.min(g.commit.len())], g.kind),
        changes,
    );
}

/// Environments added or removed as a whole; in one kept, each package that changed. An
/// environment whose build requirements changed (a project's new commit) counts as kept
/// when its other inputs are the same, so that the packages show old -> new.
fn environments(old: &Lockfile, new: &Lockfile, changes: &mut Vec<Change>) {
    let (pairs, unpaired) = pair(old, new);
    for (o, n) in pairs {
        let Some(o) = o else {
            changes.push(Change::Added {
                what: format!("environment {}", n.describe()),
                new: summary(n),
            });
            continue;
        };
        requests(o, n, changes);
        if o.unavailable_reason() != n.unavailable_reason() {
            changes.push(Change::Updated {
                what: format!("environment {}", n.describe()),
                old: availability(o),
                new: availability(n),
            });
        }
        // (A new environment is one line: its packages are in the file, and `audit`
        // lists them.)
        packages(o, n, changes);
        facts(o, n, changes);
    }
    for o in unpaired {
        changes.push(Change::Removed {
            what: format!("environment {}", o.describe()),
            old: summary(o),
        });
    }
}

fn summary(e: &LockedEnvironment) -> String {
    if let Some(why) = e.unavailable_reason() {
        return format!("(unavailable: {why})");
    }
    format!(
        "({} pip, {} apt package(s))",
        e.packages.len(),
        e.debs.len()
    )
}

/// `available`, or `unavailable: WHY`.
fn availability(e: &LockedEnvironment) -> String {
    e.unavailable_reason()
        .map_or_else(|| "available".into(), |why| format!("unavailable: {why}"))
}

/// A new environment and the old one it replaces, if any.
type Pair<'a> = (Option<&'a LockedEnvironment>, &'a LockedEnvironment);

/// Each new environment paired with the old one of the same identity, or else with an
/// unpaired old one that differs only in its build requirements, or else in one of its
/// request lists (a `pip` entry added by hand, or by `repair`), so that what changed shows
/// as updates rather than as one environment removed and another added; and the old
/// environments left unpaired.
fn pair<'a>(old: &'a Lockfile, new: &'a Lockfile) -> (Vec<Pair<'a>>, Vec<&'a LockedEnvironment>) {
    type Id = (String, String, Vec<String>, Vec<String>);
    let id = |e: &'_ LockedEnvironment| -> Id {
        (
            e.image.clone(),
            e.platform.clone(),
            e.pip.clone(),
            e.apt.clone(),
        )
    };
    let mut unpaired: Vec<&LockedEnvironment> = old
        .environments
        .iter()
        .filter(|o| !new.environments.iter().any(|n| n.matches_entry(o)))
        .collect();
    let same_but_pip = |o: &LockedEnvironment, n: &LockedEnvironment| {
        (&o.image, &o.platform, &o.apt, &o.build) == (&n.image, &n.platform, &n.apt, &n.build)
    };
    let same_but_apt = |o: &LockedEnvironment, n: &LockedEnvironment| {
        (&o.image, &o.platform, &o.pip, &o.build) == (&n.image, &n.platform, &n.pip, &n.build)
    };
    let mut pairs: Vec<Pair<'a>> = new
        .environments
        .iter()
        .map(|n| {
            let o = old
                .environments
                .iter()
                .find(|o| o.matches_entry(n))
                .or_else(|| {
                    let i = unpaired.iter().position(|o| id(o) == id(n))?;
                    Some(unpaired.remove(i))
                });
            (o, n)
        })
        .collect();
    for similar in [same_but_pip, same_but_apt] {
        for (o, n) in pairs.iter_mut().filter(|(o, _)| o.is_none()) {
            if let Some(i) = unpaired.iter().position(|u| similar(u, n)) {
                *o = Some(unpaired.remove(i));
            }
        }
    }
    (pairs, unpaired)
}

/// The request lists of a kept environment that changed: build requirements, pip and apt.
fn requests(o: &LockedEnvironment, n: &LockedEnvironment, changes: &mut Vec<Change>) {
    for (what, old_list, new_list) in [
        ("build requirements", &o.build, &n.build),
        ("pip requests", &o.pip, &n.pip),
        ("apt requests", &o.apt, &n.apt),
    ] {
        if old_list != new_list {
            let shown = |l: &[String]| match l {
                [] => "(none)".to_string(),
                l => l.join(", "),
            };
            changes.push(Change::Updated {
                what: format!("{what} ({})", n.image),
                old: shown(old_list),
                new: shown(new_list),
            });
        }
    }
}

/// The pip and apt packages of a kept environment added, updated or removed.
fn packages(o: &LockedEnvironment, n: &LockedEnvironment, changes: &mut Vec<Change>) {
    let pins = |e: &LockedEnvironment| -> BTreeMap<String, (String, String)> {
        e.packages
            .iter()
            .map(|p| {
                (
                    format!("pip {}", p.name),
                    (p.version.clone(), p.sha256.clone()),
                )
            })
            .chain(e.debs.iter().map(|d| {
                (
                    format!("apt {}", d.name),
                    (d.version.clone(), String::new()),
                )
            }))
            .collect()
    };
    let scope = format!(" ({})", n.image);
    keyed(
        &pins(o),
        &pins(n),
        |name| format!("{name}{scope}"),
        |old_pin, pin| old_pin != pin,
        |(version, sha), other| {
            // The digest only when it is what changed: a rebuilt artifact of one version.
            match other {
                Some((v, s)) if v == version && s != sha && !sha.is_empty() => {
                    format!("{version} (sha256:{})", &sha[..12.min(sha.len())])
                }
                _ => version.clone(),
            }
        },
        changes,
    );
}

/// The facts of a kept environment's image that changed or are new.
fn facts(o: &LockedEnvironment, n: &LockedEnvironment, changes: &mut Vec<Change>) {
    if o.facts == n.facts {
        return;
    }
    let scope = format!(" ({})", n.image);
    for (k, v) in &n.facts.0 {
        match o.facts.0.get(k) {
            Some(old) if old != v => changes.push(Change::Updated {
                what: format!("fact {k}{scope}"),
                old: old.clone(),
                new: v.clone(),
            }),
            None => changes.push(Change::Added {
                what: format!("fact {k}{scope}"),
                new: v.clone(),
            }),
            _ => {}
        }
    }
}
