use std::io;
use std::path::PathBuf;

/// Why a wheel, or a build's output, was refused.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("invalid wheel file name `{name}`: {reason}")]
    Name { name: String, reason: String },
    #[error("invalid Python version `{python}`: expected major.minor, e.g. `3.11`")]
    Python { python: String },
    #[error("wheel {wheel} does not fit {target}: {kind} tag `{found}`, expected {expected}")]
    Unfit {
        wheel: String,
        target: String,
        kind: &'static str,
        found: String,
        expected: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a readable zip archive: {detail}", path.display())]
    Zip { path: PathBuf, detail: String },
    #[error("wheel {}: unsafe entry `{entry}`: {reason}", path.display())]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("wheel {}: {detail}", path.display())]
    Layout { path: PathBuf, detail: String },
    #[error("wheel {}: RECORD line {line}: {detail}", path.display())]
    Record {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("wheel {}: `{entry}` does not match RECORD: {detail}", path.display())]
    Mismatch {
        path: PathBuf,
        entry: String,
        detail: String,
    },
    #[error("wheel {}: `{entry}` is not listed in RECORD", path.display())]
    NotInRecord { path: PathBuf, entry: String },
    #[error("wheel {}: RECORD lists `{entry}`, which is not a file in the archive", path.display())]
    MissingFile { path: PathBuf, entry: String },
    #[error("build output entry `{entry}` refused: {reason}")]
    TarEntry { entry: String, reason: String },
    #[error("build output entry `{entry}` is {size} bytes, over the limit of {max} bytes")]
    TooLarge { entry: String, size: u64, max: u64 },
    #[error("reading the build output archive: {source}")]
    Tar {
        #[source]
        source: io::Error,
    },
    #[error("{} already exists; not replacing it", path.display())]
    Exists { path: PathBuf },
}

impl WheelError {
    pub fn hint(&self) -> Option<String> {
        const TAMPERED: &str = "the wheel is corrupt or was altered after it was built; build it again, and if this \
             persists, check the project's build backend";
        match self {
            WheelError::Name { .. } => Some(
                "wheel file names are `{distribution}-{version}(-{build})?-{python}-{abi}-\
                 {platform}.whl` (PEP 427), with `_` in place of `-` inside each part"
                    .into(),
            ),
            WheelError::Python { .. } => {
                Some("write the Python version as major.minor, e.g. `3.11`".into())
            }
            WheelError::Unfit { kind, .. } => Some(format!(
                "the build made a wheel for another {}; check the build command and the \
                 image's Python",
                if *kind == "platform" {
                    "platform"
                } else {
                    "interpreter"
                }
            )),
            WheelError::Io { .. } => Some("check the path, its permissions and free space".into()),
            WheelError::Zip { .. }
            | WheelError::UnsafeEntry { .. }
            | WheelError::Layout { .. }
            | WheelError::Record { .. }
            | WheelError::Mismatch { .. }
            | WheelError::NotInRecord { .. }
            | WheelError::MissingFile { .. } => Some(TAMPERED.into()),
            WheelError::TarEntry { .. } => Some(
                "a build must leave only wheel files, directly in its output directory; \
                 nothing was kept from this build"
                    .into(),
            ),
            WheelError::TooLarge { .. } => Some(
                "a wheel this large is unexpected; if it is genuine, raise the size limit".into(),
            ),
            WheelError::Tar { .. } => {
                Some("the build output could not be read from the container; build again".into())
            }
            WheelError::Exists { .. } => {
                Some("collect wheels into an empty directory, or remove the file first".into())
            }
        }
    }
}
