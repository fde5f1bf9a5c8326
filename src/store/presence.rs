//! Whether a key is in the store: for one key, or for every key of a plan from one
//! [`Snapshot`] of the store (three listings and one read, however many keys).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{Store, StoreError, index};
use crate::key::BuildKey;

/// Whether a key is in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presence {
    Absent,
    Present,
    /// The entry exists but fails its check: not usable.
    Damaged(Damage),
}

/// A store entry that failed a check, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{problem} ({})", path.display())]
pub(crate) struct Damage {
    /// The file that is wrong or missing.
    pub path: PathBuf,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Problem {
    #[error("the build record is unreadable: {detail}")]
    RecordUnreadable { detail: String },
    #[error("the build record is for key {found}")]
    WrongKey { found: String },
    #[error("the stored wheel is missing")]
    WheelMissing,
    #[error("the stored wheel has {found} bytes, its record says {expected}")]
    WheelSize { expected: u64, found: u64 },
    #[error("the stored wheel's sha256 is {found}, its record says {expected}")]
    WheelDigest { expected: String, found: String },
}

/// Why a stored wheel cannot be used as its record says.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnusableWheel {
    /// Missing, or other bytes: the entry is damaged (quarantined, built again).
    #[error(transparent)]
    Damaged(Damage),
    /// It is there but could not be read (permissions, I/O, not a file): nothing says
    /// the entry is damaged, so it is an error, never a reason to quarantine.
    #[error(transparent)]
    Unreadable(StoreError),
}

/// A sha256 or build key, as bytes: the snapshot compares thousands of them.
pub(super) type Digest = [u8; 32];

/// The store as listed at one moment: which keys have a record, which wheels are there,
/// and the index of the wheels each key's record names.
pub struct Snapshot {
    records: Vec<Digest>,
    wheels: Vec<Digest>,
    index: BTreeMap<Digest, Vec<Digest>>,
}

impl Snapshot {
    /// Records first, then the index, then the wheels: a commit moves wheels in before it
    /// writes the record, so a record listed here never misses a wheel being committed.
    pub(super) fn take(store: &Store) -> Result<Snapshot, StoreError> {
        let records = list(&store.root.join("records"), ".json", true)?;
        let index = index::read(&store.root).map_err(StoreError::io(&store.root))?;
        let wheels = list(&store.root.join("wheels"), ".whl", false)?;
        Ok(Snapshot {
            records,
            wheels,
            index,
        })
    }

    /// The keys whose record may name a wheel with one of `digests`: those the index
    /// says do, and those it does not know (only their record can say).
    pub(super) fn keys_naming<'a>(
        &'a self,
        digests: &'a BTreeSet<Digest>,
    ) -> impl Iterator<Item = BuildKey> + 'a {
        self.records
            .iter()
            .filter(|k| {
                self.index
                    .get(*k)
                    .is_none_or(|named| named.iter().any(|d| digests.contains(d)))
            })
            .map(|k| BuildKey(hex::encode(k)))
    }

    /// Is `key` in the store (see the module docs of `store`)?
    pub(crate) fn presence(&self, store: &Store, key: &BuildKey) -> Result<Presence, StoreError> {
        let Some(k) = parse_hex(key.0.as_bytes()) else {
            return Ok(Presence::Absent);
        };
        if self.records.binary_search(&k).is_err() {
            return Ok(Presence::Absent);
        }
        let Some(digests) = self.index.get(&k) else {
            // A record the index does not know (an interrupted commit): read it.
            return store.presence(key);
        };
        Ok(
            match digests
                .iter()
                .find(|d| self.wheels.binary_search(d).is_err())
            {
                Some(missing) => Presence::Damaged(Damage {
                    path: store.wheel_path(&hex::encode(missing)),
                    problem: Problem::WheelMissing,
                }),
                None => Presence::Present,
            },
        )
    }
}

/// The 32 bytes of 64 lowercase hex digits (keys and sha256 digests as the store names
/// them), if that is what `hex` is.
pub(super) fn parse_hex(hex: &[u8]) -> Option<Digest> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The digests `dir` holds entries for (`<64 hex><suffix>`; only files if `files_only`),
/// sorted; none when `dir` does not exist. Read with one `getdents` buffer and no
/// allocation per entry: stores list thousands.
fn list(dir: &std::path::Path, suffix: &str, files_only: bool) -> Result<Vec<Digest>, StoreError> {
    use rustix::fs::{Dir, Mode, OFlags};
    let io = |e: rustix::io::Errno| StoreError::Io {
        path: dir.to_path_buf(),
        source: e.into(),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut digests = Vec::new();
    for entry in Dir::new(fd).map_err(io)? {
        let entry = entry.map_err(io)?;
        // A directory where a record should be is no record; whatever is where a wheel
        // should be is there (reading it tells whether it can be read, and what it holds).
        if files_only
            && !matches!(
                entry.file_type(),
                rustix::fs::FileType::RegularFile | rustix::fs::FileType::Unknown
            )
        {
            continue;
        }
        let name = entry.file_name().to_bytes();
        if let Some(stem) = name.strip_suffix(suffix.as_bytes())
            && let Some(d) = parse_hex(stem)
        {
            digests.push(d);
        }
    }
    digests.sort_unstable();
    Ok(digests)
}
