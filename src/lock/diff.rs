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
    let describe_image = |i: &LockedImage| match &i.index_digest {
        Some(index) => format!(
            "{} (index {})",
            short_digest(&i.manifest_digest),
            short_digest(index)
        ),
        None => short_digest(&i.manifest_digest),
    };
    let images = |l: &Lockfile| -> BTreeMap<(String, String), LockedImage> {
        l.images
            .iter()
            .map(|i| ((i.reference.clone(), i.platform.clone()), i.clone()))
            .collect()
    };
    let (before, after) = (images(old), images(new));
    for ((reference, platform), n) in &after {
        let what = format!("image {reference} ({platform})");
        match before.get(&(reference.clone(), platform.clone())) {
            None => changes.push(Change::Added {
                what,
                new: describe_image(n),
            }),
            Some(o) if o != n => changes.push(Change::Updated {
                what,
                old: describe_image(o),
                new: describe_image(n),
            }),
            Some(_) => {}
        }
    }
    for ((reference, platform), o) in &before {
        if !after.contains_key(&(reference.clone(), platform.clone())) {
            changes.push(Change::Removed {
                what: format!("image {reference} ({platform})"),
                old: describe_image(o),
            });
        }
    }
    let gits = |l: &Lockfile| -> BTreeMap<(String, Option<String>), LockedGit> {
        l.git
            .iter()
            .map(|g| ((g.url.clone(), g.reference.clone()), g.clone()))
            .collect()
    };
    let (before, after) = (gits(old), gits(new));
    let describe_git =
        |g: &LockedGit| format!("{} ({})", &g.commit[..12.min(g.commit.len())], g.kind);
    for ((url, reference), n) in &after {
        let what = format!("git {url} @ {}", reference.as_deref().unwrap_or("HEAD"));
        match before.get(&(url.clone(), reference.clone())) {
            None => changes.push(Change::Added {
                what,
                new: describe_git(n),
            }),
            // Build requirements read at the same commit show with their environments.
            Some(o) if (&o.kind, &o.resolved, &o.commit) != (&n.kind, &n.resolved, &n.commit) => {
                changes.push(Change::Updated {
                    what,
                    old: describe_git(o),
                    new: describe_git(n),
                })
            }
            Some(_) => {}
        }
    }
    for ((url, reference), o) in &before {
        if !after.contains_key(&(url.clone(), reference.clone())) {
            changes.push(Change::Removed {
                what: format!("git {url} @ {}", reference.as_deref().unwrap_or("HEAD")),
                old: describe_git(o),
            });
        }
    }
    environments(old, new, &mut changes);
    changes
}

/// Environments added or removed as a whole; in one kept, each package that changed. An
/// environment whose build requirements changed (a project's new commit) counts as kept
/// when its other inputs are the same, so that the packages show old -> new.
fn environments(old: &Lockfile, new: &Lockfile, changes: &mut Vec<Change>) {
    type Id = (String, String, Vec<String>, Vec<String>);
    let id = |e: &'_ LockedEnvironment| -> Id {
        (
            e.image.clone(),
            e.platform.clone(),
            e.pip.clone(),
            e.apt.clone(),
        )
    };
    let describe = |e: &LockedEnvironment| format!("environment {}", e.describe());
    let summary = |e: &LockedEnvironment| {
        format!(
            "({} pip, {} apt package(s))",
            e.packages.len(),
            e.debs.len()
        )
    };
    // Pair each new environment with the old one of the same identity, or else with an
    // unpaired old one that differs only in its build requirements, or else in one of its
    // request lists (a `pip` entry added by hand, or by `repair`), so that what changed
    // shows as updates rather than as one environment removed and another added.
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
    let mut pairs: Vec<(Option<&LockedEnvironment>, &LockedEnvironment)> = new
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
    for (o, n) in pairs {
        let Some(o) = o else {
            changes.push(Change::Added {
                what: describe(n),
                new: summary(n),
            });
            continue;
        };
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
        // (A new environment is one line: its packages are in the file, and `audit`
        // lists them.)
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
        let (was, now) = (pins(o), pins(n));
        let show = |(version, sha): &(String, String), other: Option<&(String, String)>| {
            // The digest only when it is what changed: a rebuilt artifact of one version.
            match other {
                Some((v, s)) if v == version && s != sha && !sha.is_empty() => {
                    format!("{version} (sha256:{})", &sha[..12.min(sha.len())])
                }
                _ => version.clone(),
            }
        };
        let scope = format!(" ({})", n.image);
        for (name, pin) in &now {
            match was.get(name) {
                None => changes.push(Change::Added {
                    what: format!("{name}{scope}"),
                    new: show(pin, None),
                }),
                Some(old_pin) if old_pin != pin => changes.push(Change::Updated {
                    what: format!("{name}{scope}"),
                    old: show(old_pin, Some(pin)),
                    new: show(pin, Some(old_pin)),
                }),
                Some(_) => {}
            }
        }
        for (name, pin) in &was {
            if !now.contains_key(name) {
                changes.push(Change::Removed {
                    what: format!("{name}{scope}"),
                    old: show(pin, None),
                });
            }
        }
        if o.facts != n.facts {
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
    }
    for o in unpaired {
        changes.push(Change::Removed {
            what: describe(o),
            old: summary(o),
        });
    }
}
