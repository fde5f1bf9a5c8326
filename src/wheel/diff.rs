//! Comparing two builds of a wheel: entry by entry, and section by section inside changed ELF
//! files.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::archive::{self, Opened, hash_entry};
use super::elf;
use super::record::Hasher;
use super::{WheelError, escaped};

/// A changed ELF file larger than this is listed without its sections, since comparing them
/// holds both builds of the file in memory.
const MAX_ELF_BYTES: u64 = 1 << 30;

/// How two wheels differ, entry by entry (name and content sha256).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct WheelDiff {
    /// In the second wheel only.
    pub added: Vec<String>,
    /// In the first wheel only.
    pub removed: Vec<String>,
    /// In both, with different content.
    pub changed: Vec<String>,
    /// Every entry is the same, yet the files differ: only zip metadata (timestamps, order,
    /// compression, permissions) does. False for byte-identical files.
    pub metadata_only: bool,
    /// Changed entries that are ELF files in both wheels → the sections that differ: `.name`
    /// in both, `-.name` in the first only, `+.name` in the second only.
    pub sections: BTreeMap<String, Vec<String>>,
}

impl WheelDiff {
    /// Whether both wheels hold the same entries with the same contents.
    pub fn same_contents(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compare two wheels for `wheelbuild verify`, so that a rebuild that differs only in zip
/// metadata is told apart from one whose contents changed. Directory entries count as
/// entries (with empty content). Names are sorted.
pub(crate) fn diff_wheels(a: &Path, b: &Path) -> Result<WheelDiff, WheelError> {
    let mut a = Side::open(a)?;
    let mut b = Side::open(b)?;
    let mut diff = WheelDiff::default();
    for (name, (hash, _)) in &a.contents {
        match b.contents.get(name) {
            None => diff.removed.push(name.clone()),
            Some((other, _)) if other != hash => diff.changed.push(name.clone()),
            Some(_) => {}
        }
    }
    diff.added = b
        .contents
        .keys()
        .filter(|name| !a.contents.contains_key(*name))
        .cloned()
        .collect();
    diff.metadata_only = diff.same_contents() && a.sha256 != b.sha256;
    for name in &diff.changed {
        if let (Some(x), Some(y)) = (a.elf(name)?, b.elf(name)?)
            && let Some(sections) = elf::section_diff(&x, &y)
        {
            diff.sections.insert(name.clone(), sections);
        }
    }
    Ok(diff)
}

/// One wheel of a comparison.
struct Side<'a> {
    path: &'a Path,
    zip: zip::ZipArchive<File>,
    /// The whole file's sha256.
    sha256: Vec<u8>,
    /// Entry name → (content sha256, index in the zip).
    contents: BTreeMap<String, (Vec<u8>, usize)>,
}

impl<'a> Side<'a> {
    fn open(path: &'a Path) -> Result<Side<'a>, WheelError> {
        let Opened {
            sha256,
            mut zip,
            entries,
            ..
        } = archive::open(path)?;
        let mut contents = BTreeMap::new();
        for entry in &entries {
            let (digest, _) = hash_entry(path, &mut zip, entry, Hasher::Sha256(Sha256::new()))?;
            contents.insert(entry.name.clone(), (digest, entry.index));
        }
        Ok(Side {
            path,
            zip,
            sha256,
            contents,
        })
    }

    /// The content of entry `name` if it is an ELF file of at most [`MAX_ELF_BYTES`].
    fn elf(&mut self, name: &str) -> Result<Option<Vec<u8>>, WheelError> {
        let Some(&(_, index)) = self.contents.get(name) else {
            return Ok(None);
        };
        let zip_err = |e: &dyn fmt::Display| WheelError::Zip {
            path: self.path.to_path_buf(),
            detail: format!("entry `{}`: {e}", escaped(name)),
        };
        let entry = self.zip.by_index(index).map_err(|e| zip_err(&e))?;
        if entry.size() > MAX_ELF_BYTES {
            return Ok(None);
        }
        elf::read_if_elf(entry, MAX_ELF_BYTES).map_err(|e| zip_err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::fixtures::{compile, demo, files, options, write_zip};
    use zip::CompressionMethod;

    #[test]
    fn same_contents_with_other_zip_metadata_is_metadata_only() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.whl");
        let b = tmp.path().join("b.whl");
        let c = tmp.path().join("c.whl");
        let files = demo();
        write_zip(&a, &files, options(0));
        write_zip(&b, &files, options(30));
        let mut reordered = files.clone();
        reordered.reverse();
        write_zip(
            &c,
            &reordered,
            options(0).compression_method(CompressionMethod::Stored),
        );
        for other in [&b, &c] {
            let diff = diff_wheels(&a, other).unwrap();
            assert!(diff.same_contents(), "{diff:?}");
            assert!(diff.metadata_only, "{diff:?}");
        }
        // Byte-identical files differ in nothing, metadata included.
        let copy = tmp.path().join("copy.whl");
        std::fs::copy(&a, &copy).unwrap();
        let diff = diff_wheels(&a, &copy).unwrap();
        assert_eq!(diff, WheelDiff::default());
    }

    #[test]
    fn lists_added_removed_and_changed_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.whl");
        let b = tmp.path().join("b.whl");
        write_zip(
            &a,
            &files(&[
                ("k.py", b"same"),
                ("c.py", b"1"),
                ("gone.py", b"x"),
                ("z/", b""),
            ]),
            options(0),
        );
        write_zip(
            &b,
            &files(&[
                ("k.py", b"same"),
                ("c.py", b"2"),
                ("new.py", b"y"),
                ("a/", b""),
            ]),
            options(0),
        );
        let diff = diff_wheels(&a, &b).unwrap();
        assert_eq!(diff.added, ["a/", "new.py"]);
        assert_eq!(diff.removed, ["gone.py", "z/"]);
        assert_eq!(diff.changed, ["c.py"]);
        assert!(!diff.metadata_only);
        assert!(!diff.same_contents());
    }

    #[test]
    fn diff_refuses_unreadable_wheels() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.whl");
        write_zip(&a, &demo(), options(0));
        let bad = tmp.path().join("bad.whl");
        std::fs::write(&bad, b"nope").unwrap();
        assert!(matches!(diff_wheels(&a, &bad), Err(WheelError::Zip { .. })));
        let slip = tmp.path().join("slip.whl");
        write_zip(&slip, &files(&[("../x.py", b"x")]), options(0));
        assert!(matches!(
            diff_wheels(&slip, &a),
            Err(WheelError::UnsafeEntry { .. })
        ));
    }

    #[test]
    fn names_the_sections_of_changed_elf_files() {
        let tmp = tempfile::tempdir().unwrap();
        // Function names of the same length: only the string table differs.
        let alpha = compile(tmp.path(), "alpha", "int alpha(void) { return 1; }\n");
        let bravo = compile(tmp.path(), "bravo", "int bravo(void) { return 1; }\n");
        let (a, b) = (tmp.path().join("a.whl"), tmp.path().join("b.whl"));
        let wheel = |path: &Path, so: &[u8], py: &[u8]| {
            let entries = files(&[("demo/_ext.so", so), ("demo/core.py", py)]);
            write_zip(path, &entries, options(0));
        };
        wheel(&a, &alpha, b"X = 1\n");
        wheel(&b, &bravo, b"X = 2\n");
        let diff = diff_wheels(&a, &b).unwrap();
        assert_eq!(diff.changed, ["demo/_ext.so", "demo/core.py"]);
        assert_eq!(
            diff.sections,
            BTreeMap::from([("demo/_ext.so".to_string(), vec![".strtab".to_string()])])
        );
        // A file that is ELF on one side only is just changed.
        wheel(&b, b"#!/bin/sh\n", b"X = 1\n");
        let diff = diff_wheels(&a, &b).unwrap();
        assert_eq!(diff.changed, ["demo/_ext.so"]);
        assert!(diff.sections.is_empty(), "{diff:?}");
    }
}
