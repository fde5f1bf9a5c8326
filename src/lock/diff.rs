//! What changed between two locks, for `lock`'s report (`old -> new`).

use std::collections::BTreeMap;
use std::fmt;

use super::{LockedGit, LockedImage, Lockfile, short_digest};

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
    let empty = Lockfile::new(String::new(), vec![], vec![]);
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
            Some(o) if o != n => changes.push(Change::Updated {
                what,
                old: describe_git(o),
                new: describe_git(n),
            }),
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
    changes
}
