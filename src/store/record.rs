//! What the store keeps about a build: its record (wheels with their digests, the key's
//! inputs, the log) and, per target, the key it was last built as.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::key::{BuildKey, KeyInputs};

/// One built wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct WheelRecord {
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// ccache statistics of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Per compiler (`gcc`, `g++`, `nvcc`, `hipcc`, …) that ran through the cache.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub compilers: BTreeMap<String, CompilerStats>,
}

/// One compiler's ccache statistics in a build: `hits` include `remote_hits`;
/// `remote_errors` are remote lookups that failed (the unit was compiled here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CompilerStats {
    pub hits: u64,
    pub misses: u64,
    #[serde(default)]
    pub remote_hits: u64,
    #[serde(default)]
    pub remote_errors: u64,
}

impl CacheStats {
    pub(crate) fn hit_rate(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }
}

/// What the store knows about one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct BuildRecord {
    pub version: u32,
    pub key: BuildKey,
    /// The target that built it first.
    pub target: String,
    /// Everything the key covers, so a later plan can say what changed.
    pub inputs: KeyInputs<'static>,
    pub wheels: Vec<WheelRecord>,
    /// The build log, relative to the store's directory.
    pub log: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccache: Option<CacheStats>,
    /// Facts of the environment the build ran in (torch's version, CUDA/HIP build and C++
    /// ABI when torch is installed). Not key inputs: the pins decide them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    pub wheelbuild_version: String,
    /// SLSA v1 provenance of the build: the statement of each wheel says this. Absent
    /// from records made before provenance existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<super::provenance::Provenance>,
    /// DSSE signatures of each wheel's statement, by wheel file name (with `[remote]
    /// sign-with`): the builder's, so a pulled record carries them unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provenance_signatures: BTreeMap<String, Vec<super::provenance::DsseSignature>>,
    /// The `[[engine]]` that built it; absent for the default engine. Not a key input:
    /// where a wheel is built never changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_on: Option<String>,
}

/// The key last built for a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TargetEntry {
    pub version: u32,
    pub target: String,
    pub key: BuildKey,
    pub inputs: KeyInputs<'static>,
}
