//! Writing the index: its directories brought to exactly its pages, each page written
//! only when its bytes change.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{IndexError, IndexReport};

/// The pages an index consists of, by path relative to the index root.
#[derive(Default)]
pub(super) struct Pages {
    pages: BTreeMap<PathBuf, Vec<u8>>,
}

/// One directory of the index as it should be: its pages and its sub-directories.
#[derive(Default)]
struct PageDir<'a> {
    pages: BTreeMap<&'a OsStr, &'a [u8]>,
    subdirs: BTreeSet<&'a OsStr>,
}

/// What one directory of the index holds that it should not, and the pages it lacks.
struct DirSync<'a> {
    stale: Vec<(PathBuf, bool)>,
    to_write: Vec<(PathBuf, &'a [u8])>,
    unchanged: usize,
}

impl Pages {
    pub(super) fn add(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.pages.insert(path, bytes);
    }

    /// Bring `root` to exactly these pages: each directory listed once and its pages read
    /// back (in parallel, a directory at a time), then whatever should not be there
    /// removed and every page whose bytes differ written, atomically.
    pub(super) fn write(self, root: &Path) -> Result<IndexReport, IndexError> {
        let mut dirs: BTreeMap<&Path, PageDir<'_>> = BTreeMap::new();
        dirs.entry(Path::new("")).or_default();
        for (rel, bytes) in &self.pages {
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                continue;
            };
            dirs.entry(parent).or_default().pages.insert(name, bytes);
            let mut dir = parent;
            while let (Some(up), Some(name)) = (dir.parent(), dir.file_name()) {
                if !dirs.entry(up).or_default().subdirs.insert(name) {
                    break;
                }
                dir = up;
            }
        }
        let dirs: Vec<(&Path, PageDir<'_>)> = dirs.into_iter().collect();
        // Listing a directory and reading its pages back takes some 25 µs here (measured),
        // what the expansion of about 16 targets takes; writing a page takes longer.
        let threads = crate::par::threads_for(16 * dirs.len());
        let synced =
            crate::par::map_each(&dirs, threads, |(rel, dir)| sync_dir(&root.join(rel), dir));
        let mut report = IndexReport::default();
        let mut to_write = Vec::new();
        for dir in synced {
            let dir = dir?;
            {
                report.unchanged += dir.unchanged;
                to_write.extend(dir.to_write);
                // Not followed: a link is removed as the file it is.
                for (path, is_dir) in dir.stale {
                    let result = if is_dir {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    match result {
                        Ok(()) => report.removed.push(path),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(IndexError::io("removing a stale index entry", &path)(e));
                        }
                    }
                }
            }
        }
        report.removed.sort();
        let threads = crate::par::threads_for(16 * to_write.len());
        let written = crate::par::map_each(&to_write, threads, |(path, bytes)| {
            crate::fsutil::write_atomic(path, bytes)
                .map_err(IndexError::io("writing the index page", path))
        });
        written.into_iter().collect::<Result<Vec<()>, _>>()?;
        report.written = to_write.into_iter().map(|(path, _)| path).collect();
        report.written.sort();
        Ok(report)
    }
}

/// List the index directory `path` and read its pages back: what is there that `want`
/// does not have, and the pages missing or with other bytes.
fn sync_dir<'a>(path: &Path, want: &PageDir<'a>) -> Result<DirSync<'a>, IndexError> {
    let mut sync = DirSync {
        stale: Vec::new(),
        to_write: Vec::new(),
        unchanged: 0,
    };
    let mut files: BTreeSet<std::ffi::OsString> = BTreeSet::new();
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(IndexError::io("reading the index directory", path))?;
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let name = entry.file_name();
                let wanted = if is_dir {
                    want.subdirs.contains(name.as_os_str())
                } else {
                    want.pages.contains_key(name.as_os_str())
                };
                if !wanted {
                    sync.stale.push((path.join(&name), is_dir));
                } else if !is_dir {
                    files.insert(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IndexError::io("reading the index directory", path)(e)),
    }
    for (name, bytes) in &want.pages {
        let page = path.join(name);
        if files.contains(*name) && has_bytes(&page, bytes) {
            sync.unchanged += 1;
        } else {
            sync.to_write.push((page, bytes));
        }
    }
    Ok(sync)
}

/// Whether the file at `path` holds exactly `bytes`: one open and one read (asking for a
/// byte more than `bytes` has, so that a longer file shows), where `fs::read` takes five
/// system calls.
pub(super) fn has_bytes(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = vec![0u8; bytes.len() + 1];
    let mut filled = 0;
    loop {
        match file.read(&mut buf[filled..]) {
            Ok(0) => return filled == bytes.len() && buf[..filled] == *bytes,
            Ok(n) => {
                filled += n;
                if filled == buf.len() {
                    return false;
                }
                // A regular file reads short only at its end.
                if buf[..filled] != bytes[..filled.min(bytes.len())] {
                    return false;
                }
                if filled == bytes.len() {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}
