//! `verify`: rebuild a stored target in a fresh container with fresh, empty compiler
//! caches, and compare three things per wheel: the bytes in the store, the digest in the
//! record, and the rebuild.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::container::Builder;
use super::spec::BuildSpec;
use super::{BuildError, BuildSettings, Reporter, io_err};
use crate::config::Config;
use crate::docker::Engine;
use crate::key::BuildKey;
use crate::plan::PlannedTarget;
use crate::store::{Damage, Store, UnusableWheel};
use crate::wheel;

/// Result of rebuilding a stored target.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub id: String,
    pub key: BuildKey,
    /// Wheel file → what differs; empty when every wheel is byte-identical to its record.
    pub differences: BTreeMap<String, WheelDifference>,
    /// Stored wheels whose bytes no longer match their record: the entry was moved to
    /// `quarantined` (the next `build` builds it again).
    pub damaged: Vec<Damage>,
    pub quarantined: Option<PathBuf>,
    /// Where the rebuilt wheels were kept (`--keep`).
    pub kept: Option<PathBuf>,
}

impl VerifyReport {
    pub fn reproducible(&self) -> bool {
        self.differences.is_empty() && self.damaged.is_empty()
    }
}

#[derive(Debug, Serialize)]
pub struct WheelDifference {
    /// The record's digest: what the first build produced.
    pub recorded_sha256: String,
    pub rebuilt_sha256: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Changed ELF files → the sections that differ.
    pub sections: BTreeMap<String, Vec<String>>,
    /// Same files with the same contents; only zip metadata (times, order) differs.
    pub metadata_only: bool,
}

/// Rebuild `target` (which must be in the store) in a fresh container and compare its
/// wheels with the stored ones. `keep`: a directory to copy the rebuilt wheels into
/// (under the target's id).
pub async fn verify(
    config: &Config,
    target: &PlannedTarget<'_>,
    store: &Store,
    engine: &Engine,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    keep: Option<&Path>,
) -> Result<VerifyReport, (BuildError, Option<PathBuf>)> {
    let record = store
        .record(&target.key)
        .map_err(|e| (e.into(), None))?
        .ok_or_else(|| {
            (
                io_err(
                    &format!("{} is not in the store", target.target.id),
                    "build it first",
                ),
                None,
            )
        })?;
    // The stored bytes against their record (presence only looks for the files). One
    // that cannot be read is an error, not damage: the entry stays.
    let mut damaged: Vec<Damage> = Vec::new();
    for w in &record.wheels {
        match store.check_wheel(w) {
            None => {}
            Some(UnusableWheel::Damaged(d)) => damaged.push(d),
            Some(UnusableWheel::Unreadable(e)) => return Err((e.into(), None)),
        }
    }
    let builder = Builder::new(engine, settings, store, reporter, &config.root);
    let staging = store.stage().map_err(|e| (e.into(), None))?;
    let log = settings
        .log_dir
        .join(format!("{}.verify.log", target.target.id));
    let spec = BuildSpec::of(config, target, settings.max_jobs, &log, true);
    let built = builder
        .build(&spec, &staging)
        .await
        .map_err(|e| (e, Some(log.clone())))?;

    // The rebuild against the record; what differs is named by comparing with the
    // stored file.
    let mut differences = BTreeMap::new();
    for w in &record.wheels {
        let rebuilt = built.wheels.iter().find(|r| r.file == w.file);
        if rebuilt.is_some_and(|r| r.sha256 == w.sha256) {
            continue;
        }
        let mut diff = WheelDifference {
            recorded_sha256: w.sha256.clone(),
            rebuilt_sha256: rebuilt.map(|r| r.sha256.clone()),
            added: vec![],
            removed: vec![],
            changed: vec![],
            sections: BTreeMap::new(),
            metadata_only: false,
        };
        let stored = store.wheel_path(&w.sha256);
        if rebuilt.is_some() && stored.is_file() {
            // Reads both wheels whole (and their ELF files): off the async workers.
            let rebuilt = staging.wheels_dir().join(&w.file);
            let d = tokio::task::spawn_blocking(move || wheel::diff_wheels(&stored, &rebuilt))
                .await
                .map_err(|e| (io_err("comparing wheels", e), None))?
                .map_err(|e| (e.into(), Some(log.clone())))?;
            diff.added = d.added;
            diff.removed = d.removed;
            diff.changed = d.changed;
            diff.sections = d.sections;
            diff.metadata_only = d.metadata_only;
        }
        differences.insert(w.file.clone(), diff);
    }
    for r in &built.wheels {
        if !record.wheels.iter().any(|w| w.file == r.file) {
            differences.insert(
                r.file.clone(),
                WheelDifference {
                    recorded_sha256: String::new(),
                    rebuilt_sha256: Some(r.sha256.clone()),
                    added: vec![],
                    removed: vec![],
                    changed: vec![],
                    sections: BTreeMap::new(),
                    metadata_only: false,
                },
            );
        }
    }

    let kept = match keep {
        Some(dir) => {
            let dest = dir.join(&target.target.id);
            std::fs::create_dir_all(&dest)
                .map_err(|e| (io_err("keeping the rebuilt wheels", e), None))?;
            for r in &built.wheels {
                std::fs::copy(staging.wheels_dir().join(&r.file), dest.join(&r.file))
                    .map_err(|e| (io_err("keeping the rebuilt wheels", e), None))?;
            }
            Some(dest)
        }
        None => None,
    };
    let quarantined = if damaged.is_empty() {
        None
    } else {
        let moved = store
            .quarantine(&target.key, &damaged)
            .map_err(|e| (e.into(), None))?;
        for d in &damaged {
            reporter.quarantined(&target.target.id, d, &moved);
        }
        Some(moved)
    };
    Ok(VerifyReport {
        id: target.target.id.clone(),
        key: target.key.clone(),
        differences,
        damaged,
        quarantined,
        kept,
    })
}
