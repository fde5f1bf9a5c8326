//! Compiler and pip caches mounted into builds: one directory per release channel and
//! accelerator variant, owned by the build user.

use std::path::{Path, PathBuf};

use super::{BuildError, Run, io_err};
use crate::accel::Accel;

/// The cache directories of one build (`None`: that cache is off).
pub(super) struct Caches {
    pub ccache: Option<PathBuf>,
    pub pip: Option<PathBuf>,
}

impl Run<'_> {
    /// ccache and pip cache directories of this run's channel and `accel`: caches never
    /// cross a release channel or a CUDA/ROCm variant.
    pub(super) fn caches(&self, accel: &Accel) -> Result<Caches, BuildError> {
        let s = self.settings;
        let variant = accel.to_string();
        let make = |kind: &str| -> Result<PathBuf, BuildError> {
            let dir = s.cache_dir.join(kind).join(&s.channel).join(&variant);
            self.for_build_user(&dir)?;
            Ok(dir)
        };
        Ok(Caches {
            ccache: s.ccache.then(|| make("ccache")).transpose()?,
            pip: s.pip_cache.then(|| make("pip")).transpose()?,
        })
    }

    /// New, empty caches under `scratch` (removed with it), for a build that must not
    /// reuse anything an earlier build left.
    pub(super) fn fresh_caches(&self, accel: &Accel, scratch: &Path) -> Result<Caches, BuildError> {
        let s = self.settings;
        let make = |kind: &str| -> Result<PathBuf, BuildError> {
            let dir = scratch.join("caches").join(kind).join(accel.to_string());
            self.for_build_user(&dir)?;
            Ok(dir)
        };
        Ok(Caches {
            ccache: s.ccache.then(|| make("ccache")).transpose()?,
            pip: s.pip_cache.then(|| make("pip")).transpose()?,
        })
    }

    /// Create `dir` for the (non-root) build user: handed over when we are root or the
    /// build user ourselves. Never opened up to everyone: any local user could then plant
    /// objects in a compiler cache that later builds link into wheels.
    fn for_build_user(&self, dir: &Path) -> Result<(), BuildError> {
        use std::os::unix::fs::MetadataExt as _;
        let (uid, gid) = (self.settings.uid, self.settings.gid);
        std::fs::create_dir_all(dir).map_err(|e| io_err("creating a cache directory", e))?;
        let meta = std::fs::metadata(dir).map_err(|e| io_err("reading a cache directory", e))?;
        if meta.uid() == uid {
            return Ok(());
        }
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| BuildError::CacheOwner {
            path: dir.to_path_buf(),
            uid,
            gid,
            detail: e.to_string(),
        })
    }
}
