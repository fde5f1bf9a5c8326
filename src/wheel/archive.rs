//! Checking a wheel's zip archive: safe entry names, the `.dist-info` layout, and every file
//! against RECORD.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::name::normalize_name;
use super::record::{self, Hasher, RecordError, RecordRow, hash_stream};
use super::{WheelError, WheelName, escaped};

/// What [`check_wheel`] found in a sound wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WheelInfo {
    pub name: WheelName,
    /// Hex sha256 of the whole file.
    pub sha256: String,
    pub size: u64,
    /// Regular file entries in the archive, RECORD included.
    pub files: usize,
}

/// Check that the file at `path` is a wheel an installer would accept unchanged: a zip with
/// consistent headers and unique, safe entry names; exactly one `{name}-{version}.dist-info`
/// matching the file name; a `WHEEL` file; and a RECORD that lists every file (except itself and
/// its signatures) with a hash (sha256, sha384 or sha512) and size that match the content, and
/// nothing else.
pub(crate) fn check_wheel(path: &Path) -> Result<WheelInfo, WheelError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| WheelError::Name {
            name: escaped(&path.display().to_string()),
            reason: "not a UTF-8 file name".into(),
        })?;
    let name = WheelName::parse(file_name)?;
    let Opened {
        sha256,
        size,
        mut zip,
        entries,
    } = open(path)?;

    // The one top-level `.dist-info` directory, named after the wheel.
    let dist_infos: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.name.split('/').next())
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    let layout = |detail: String| WheelError::Layout {
        path: path.to_path_buf(),
        detail,
    };
    let dist_info = match dist_infos.len() {
        1 => dist_infos.first().copied().unwrap_or_default(),
        0 => return Err(layout("no top-level `.dist-info` directory".into())),
        _ => {
            return Err(layout(format!(
                "several `.dist-info` directories: {}",
                dist_infos
                    .iter()
                    .map(|d| format!("`{}`", escaped(d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let stem = dist_info.strip_suffix(".dist-info").unwrap_or(dist_info);
    let matches_name = stem.rsplit_once('-').is_some_and(|(dist, version)| {
        normalize_name(dist) == normalize_name(&name.distribution)
            && normalize_version(version) == normalize_version(&name.version)
    });
    if !matches_name {
        return Err(layout(format!(
            "`{}` does not belong to {}-{} (the file name)",
            escaped(dist_info),
            name.distribution,
            name.version
        )));
    }

    let files: HashMap<&str, usize> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| (e.name.as_str(), e.index))
        .collect();
    let wheel_meta = format!("{dist_info}/WHEEL");
    if !files.contains_key(wheel_meta.as_str()) {
        return Err(layout(format!("no `{}`", escaped(&wheel_meta))));
    }
    let record_path = format!("{dist_info}/RECORD");
    let unhashed = [
        record_path.clone(),
        format!("{dist_info}/RECORD.jws"),
        format!("{dist_info}/RECORD.p7s"),
    ];
    let Some(&record_index) = files.get(record_path.as_str()) else {
        return Err(layout(format!("no `{}`", escaped(&record_path))));
    };
    let record_err = |e: RecordError| WheelError::Record {
        path: path.to_path_buf(),
        line: e.line,
        detail: e.detail,
    };
    let parsed = record::parse(&record::read(path, &mut zip, record_index)?).map_err(record_err)?;
    let rows: BTreeMap<&str, &RecordRow> = parsed.iter().map(|r| (r.path.as_str(), r)).collect();

    for entry in entries.iter().filter(|e| !e.is_dir) {
        let listed = rows.get(entry.name.as_str());
        if unhashed.contains(&entry.name) {
            // RECORD cannot hold its own hash; signatures sign RECORD, so it cannot hold theirs.
            continue;
        }
        let Some(row) = listed else {
            return Err(WheelError::NotInRecord {
                path: path.to_path_buf(),
                entry: escaped(&entry.name),
            });
        };
        let mismatch = |detail: String| WheelError::Mismatch {
            path: path.to_path_buf(),
            entry: escaped(&entry.name),
            detail,
        };
        let Some((algorithm, expected)) = &row.hash else {
            return Err(record_err(RecordError {
                line: row.line,
                detail: format!("`{}` has no hash", escaped(&row.path)),
            }));
        };
        let hasher = Hasher::new(algorithm).ok_or_else(|| {
            mismatch(format!(
                "unsupported hash algorithm `{}`",
                escaped(algorithm)
            ))
        })?;
        let (actual, actual_size) = hash_entry(path, &mut zip, entry, hasher)?;
        let actual = URL_SAFE_NO_PAD.encode(actual);
        if actual != *expected {
            return Err(mismatch(format!(
                "RECORD has {algorithm}={}, the content has {algorithm}={actual}",
                escaped(expected)
            )));
        }
        if let Some(listed_size) = row.size
            && listed_size != actual_size
        {
            return Err(mismatch(format!(
                "RECORD gives {listed_size} bytes, the content has {actual_size}"
            )));
        }
    }
    for listed in rows.keys() {
        if !files.contains_key(listed) {
            return Err(WheelError::MissingFile {
                path: path.to_path_buf(),
                entry: escaped(listed),
            });
        }
    }
    Ok(WheelInfo {
        name,
        sha256: hex::encode(sha256),
        size,
        files: files.len(),
    })
}

/// Versions compare with `-`/`_` and case folded, as installers write dist-info names.
fn normalize_version(version: &str) -> String {
    version.to_ascii_lowercase().replace('-', "_")
}

/// One zip entry's name and kind, read once so later passes need not decode headers again.
pub(super) struct ZipEntry {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) is_dir: bool,
}

/// A wheel file opened for reading.
pub(super) struct Opened {
    /// The whole file's sha256 and size.
    pub(super) sha256: Vec<u8>,
    pub(super) size: u64,
    pub(super) zip: zip::ZipArchive<File>,
    /// Every entry, in archive order, with a safe name.
    pub(super) entries: Vec<ZipEntry>,
}

/// Open the wheel at `path`: hash the file, then read its zip listing, refusing unsafe entries.
pub(super) fn open(path: &Path) -> Result<Opened, WheelError> {
    let io_err = |source| WheelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let (sha256, size) = hash_stream(&mut file, Hasher::Sha256(Sha256::new())).map_err(io_err)?;
    file.rewind().map_err(io_err)?;
    let mut zip = open_zip(path, file)?;
    let entries = list_entries(path, &mut zip)?;
    Ok(Opened {
        sha256,
        size,
        zip,
        entries,
    })
}

/// Open a zip and refuse the ambiguities that let two readers see different contents:
/// duplicate names and local headers that disagree with the central directory.
fn open_zip<R: Read + Seek>(path: &Path, reader: R) -> Result<zip::ZipArchive<R>, WheelError> {
    let bad = |detail: String| WheelError::Zip {
        path: path.to_path_buf(),
        detail,
    };
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| bad(e.to_string()))?;
    if zip.has_duplicate_names() {
        return Err(bad(
            "some entry names appear twice, so readers may disagree on the content".into(),
        ));
    }
    zip.validate_header_consistency()
        .map_err(|e| bad(e.to_string()))?;
    Ok(zip)
}

/// All entries, in archive order, with names checked to be safe relative paths.
fn list_entries<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
) -> Result<Vec<ZipEntry>, WheelError> {
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| WheelError::Zip {
            path: path.to_path_buf(),
            detail: format!("entry {index}: {e}"),
        })?;
        let name = entry
            .name()
            .map_err(|e| WheelError::Zip {
                path: path.to_path_buf(),
                detail: format!("entry {index}: {e}"),
            })?
            .into_owned();
        let unsafe_entry = |reason: &str| WheelError::UnsafeEntry {
            path: path.to_path_buf(),
            entry: escaped(&name),
            reason: reason.into(),
        };
        if let Some(reason) = unsafe_path(&name) {
            return Err(unsafe_entry(reason));
        }
        if entry.is_symlink() {
            return Err(unsafe_entry("is a symbolic link"));
        }
        if entry.encrypted() {
            return Err(unsafe_entry("is encrypted"));
        }
        let is_dir = entry.is_dir();
        drop(entry);
        entries.push(ZipEntry {
            index,
            name,
            is_dir,
        });
    }
    Ok(entries)
}

/// Why a path from a wheel (a zip entry or a RECORD row) could escape or confuse an
/// installer's target directory; `None` when it is a plain relative path.
pub(super) fn unsafe_path(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("has an empty name");
    }
    if name.contains('\\') {
        return Some("contains a backslash");
    }
    if name.starts_with('/') {
        return Some("is an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("starts with a drive letter");
    }
    if name.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    let relative = name.strip_suffix('/').unwrap_or(name);
    for component in relative.split('/') {
        match component {
            ".." => return Some("has a `..` component"),
            "" | "." => return Some("has an empty or `.` component"),
            _ => {}
        }
    }
    None
}

/// Digest and size of one entry's decompressed content (the zip crate checks its CRC).
pub(super) fn hash_entry<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    entry: &ZipEntry,
    hasher: Hasher,
) -> Result<(Vec<u8>, u64), WheelError> {
    let zip_err = |e: &dyn fmt::Display| WheelError::Zip {
        path: path.to_path_buf(),
        detail: format!("entry `{}`: {e}", escaped(&entry.name)),
    };
    let mut file = zip.by_index(entry.index).map_err(|e| zip_err(&e))?;
    hash_stream(&mut file, hasher).map_err(|e| zip_err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::fixtures::*;
    use sha2::Sha512;
    use zip::CompressionMethod;
    use zip::write::SimpleFileOptions;

    #[test]
    fn checks_a_sound_wheel() {
        let tmp = tempfile::tempdir().unwrap();
        let path = write_wheel(tmp.path(), DEMO, demo(), None);
        let info = check_wheel(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(info.name, WheelName::parse(DEMO).unwrap());
        assert_eq!(info.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(info.files, 5);
    }

    #[test]
    fn accepts_what_real_builders_write() {
        // Directory entries, stored entries, sha512 rows, a quoted path with a comma and a
        // doubled quote, CRLF line ends, a padded digest, a signature not listed in RECORD, and
        // a dist-info named with a different spelling of the distribution.
        let tmp = tempfile::tempdir().unwrap();
        let body = b"x = 2\n";
        let odd = b"odd\n";
        let meta = b"Name: Demo.Pkg\n";
        let record = format!(
            "demo_pkg/core.py,sha512={},{}\r\n\"demo_pkg/a,\"\"b\"\".py\",sha256={}=,\r\n\
             demo_pkg-1.0.dist-info/METADATA,sha256={},{}\r\n\
             demo_pkg-1.0.dist-info/WHEEL,sha256={},0\r\n\r\ndemo_pkg-1.0.dist-info/RECORD,,\r\n",
            URL_SAFE_NO_PAD.encode(Sha512::digest(body)),
            body.len(),
            b64_sha256(odd),
            b64_sha256(meta),
            meta.len(),
            b64_sha256(b""),
        );
        let entries = files(&[
            ("demo_pkg/", b""),
            ("demo_pkg/core.py", body),
            ("demo_pkg/a,\"b\".py", odd),
            ("demo_pkg-1.0.dist-info/", b""),
            ("demo_pkg-1.0.dist-info/METADATA", meta),
            ("demo_pkg-1.0.dist-info/WHEEL", b""),
            ("demo_pkg-1.0.dist-info/RECORD", record.as_bytes()),
            ("demo_pkg-1.0.dist-info/RECORD.jws", b"{}"),
        ]);
        let path = tmp.path().join("Demo.Pkg-1.0-py3-none-any.whl");
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        write_zip(&path, &entries, stored);
        let info = check_wheel(&path).unwrap();
        assert_eq!(info.files, 6);
    }

    #[test]
    fn names_the_file_whose_hash_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let files = demo();
        let record = record_of(&files, "demo-1.0.dist-info")
            .replace(&b64_sha256(b"X = 1\n"), &b64_sha256(b"X = 2\n"));
        let path = write_wheel(tmp.path(), DEMO, files, Some(record));
        match check_wheel(&path) {
            Err(e @ WheelError::Mismatch { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("`demo/core.py`"), "{msg}");
                assert!(msg.contains(&b64_sha256(b"X = 1\n")), "{msg}");
                assert!(msg.contains(DEMO), "{msg}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn names_the_file_whose_size_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let files = demo();
        let record = record_of(&files, "demo-1.0.dist-info").replace(
            &format!("{},6\n", b64_sha256(b"X = 1\n")),
            &format!("{},7\n", b64_sha256(b"X = 1\n")),
        );
        let path = write_wheel(tmp.path(), DEMO, files, Some(record));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Mismatch { entry, detail, .. } if entry == "demo/core.py" && detail.contains("7 bytes")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_a_file_missing_from_record() {
        let tmp = tempfile::tempdir().unwrap();
        let record = record_of(&demo(), "demo-1.0.dist-info");
        let mut files = demo();
        files.push(("demo/extra.py".into(), b"import os\n".to_vec()));
        let path = write_wheel(tmp.path(), DEMO, files, Some(record));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::NotInRecord { entry, .. } if entry == "demo/extra.py"),
            "{err:?}"
        );
        assert!(err.to_string().contains("demo/extra.py"));
    }

    #[test]
    fn refuses_a_record_entry_missing_from_the_zip() {
        let tmp = tempfile::tempdir().unwrap();
        let mut listed = demo();
        listed.push(("demo/gone.py".into(), b"gone\n".to_vec()));
        let record = record_of(&listed, "demo-1.0.dist-info");
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::MissingFile { entry, .. } if entry == "demo/gone.py"),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_unsafe_entry_names() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, want) in [
            ("../evil.py", "`..`"),
            ("demo/../../evil.py", "`..`"),
            ("/etc/evil.py", "absolute"),
            ("demo\\evil.py", "backslash"),
            ("C:/evil.py", "drive letter"),
            ("demo//evil.py", "empty or `.`"),
            ("demo/./evil.py", "empty or `.`"),
            ("demo/evil\u{7}.py", "control"),
        ] {
            let mut files = demo();
            files.push((name.into(), b"pwned\n".to_vec()));
            // RECORD is right about the entry, so only its name can be refused.
            let path = write_wheel(tmp.path(), DEMO, files, None);
            match check_wheel(&path) {
                Err(e @ WheelError::UnsafeEntry { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{name}: {msg}");
                    assert!(msg.contains(&escaped(name)), "{name}: {msg}");
                }
                other => panic!("{name}: expected an unsafe entry, got {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_unsafe_record_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let mut record = record_of(&demo(), "demo-1.0.dist-info");
        record.push_str(&format!(
            "../../etc/cron.d/x,sha256={},1\n",
            b64_sha256(b"x")
        ));
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Record { line: 6, detail, .. } if detail.contains("`..`")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_malformed_records() {
        // Parsing rows is record.rs's to test; here, each refusal is a RECORD error that names
        // the line, and only RECORD itself and its signatures may go without a hash.
        let tmp = tempfile::tempdir().unwrap();
        let good = record_of(&demo(), "demo-1.0.dist-info");
        let second = good.lines().nth(1).unwrap().to_string();
        for (record, line, want) in [
            (
                good.replacen(&second, "demo/core.py,,", 1),
                2,
                "`demo/core.py` has no hash",
            ),
            (
                good.replacen(&second, "demo/core.py,sha256", 1),
                2,
                "expected 3 fields",
            ),
            // An unclosed quote runs to the end of RECORD, leaving one field.
            (
                good.replacen(&second, "\"demo/core.py,sha256=x,1", 1),
                2,
                "found 1",
            ),
            (format!("{good}{second}\n"), 6, "twice"),
        ] {
            let path = write_wheel(tmp.path(), DEMO, demo(), Some(record.clone()));
            match check_wheel(&path) {
                Err(e @ WheelError::Record { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("RECORD line {line}: ")), "{msg}");
                    assert!(msg.contains(want), "{record:?}: {msg}");
                }
                other => panic!("{record:?}: expected a RECORD error, got {other:?}"),
            }
        }
        // Text after a closing quote joins the path, as in Python: then the real file is
        // missing from RECORD.
        let record = good.replacen("demo/core.py,", "\"demo/core.py\"x,", 1);
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::NotInRecord { entry, .. } if entry == "demo/core.py"),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_weak_hash_algorithms() {
        let tmp = tempfile::tempdir().unwrap();
        let record = record_of(&demo(), "demo-1.0.dist-info").replacen("sha256=", "md5=", 1);
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Mismatch { entry, detail, .. } if entry == "demo/__init__.py" && detail.contains("unsupported hash algorithm `md5`")),
            "{err:?}"
        );
    }

    #[test]
    fn checks_the_dist_info_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let no_wheel: Files = demo()
            .into_iter()
            .filter(|(n, _)| !n.ends_with("/WHEEL"))
            .collect();
        let mut two = demo();
        two.push(("other-1.0.dist-info/METADATA".into(), b"".to_vec()));
        for (file_name, files, want) in [
            (DEMO, no_wheel, "no `demo-1.0.dist-info/WHEEL`"),
            (
                "other-1.0-py3-none-any.whl",
                demo(),
                "does not belong to other-1.0",
            ),
            (
                "demo-1.1-py3-none-any.whl",
                demo(),
                "does not belong to demo-1.1",
            ),
            (DEMO, two, "several `.dist-info` directories"),
        ] {
            let path = write_wheel(tmp.path(), file_name, files, None);
            match check_wheel(&path) {
                Err(WheelError::Layout { detail, .. }) => {
                    assert!(detail.contains(want), "{file_name}: {detail}")
                }
                other => panic!("{file_name}: expected a layout error, got {other:?}"),
            }
        }
        let bare = tmp.path().join(DEMO);
        write_zip(&bare, &files(&[("demo/__init__.py", b"")]), options(0));
        let err = check_wheel(&bare).unwrap_err();
        assert!(
            matches!(&err, WheelError::Layout { detail, .. } if detail.contains("no top-level `.dist-info`")),
            "{err:?}"
        );
        // Spelling differences that installers normalize away are fine.
        let renamed: Files = demo()
            .into_iter()
            .map(|(n, c)| (n.replace("demo-1.0.dist-info", "DEMO-1.0.dist-info"), c))
            .collect();
        let path = write_wheel(tmp.path(), "Demo-1.0-py3-none-any.whl", renamed, None);
        check_wheel(&path).unwrap();
    }

    #[test]
    fn refuses_a_missing_record() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DEMO);
        write_zip(&path, &demo(), options(0));
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Layout { detail, .. } if detail.contains("RECORD")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_what_is_not_a_zip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DEMO);
        std::fs::write(&path, b"#!/bin/sh\necho not a zip\n").unwrap();
        let err = check_wheel(&path).unwrap_err();
        assert!(matches!(err, WheelError::Zip { .. }), "{err:?}");
        assert!(err.to_string().contains(DEMO));
        let err = check_wheel(&tmp.path().join("absent-1.0-py3-none-any.whl")).unwrap_err();
        assert!(matches!(err, WheelError::Io { .. }), "{err:?}");
        let err = check_wheel(&tmp.path().join("not-a-wheel.zip")).unwrap_err();
        assert!(matches!(err, WheelError::Name { .. }), "{err:?}");
    }

    /// Replace the first occurrence of `from` in the file with `to` (same length).
    fn patch_first(path: &Path, from: &[u8], to: &[u8]) {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        bytes[at..at + to.len()].copy_from_slice(to);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn refuses_local_headers_that_disagree_with_the_central_directory() {
        // An installer that trusts local headers would unpack `demo/evil.py`; a checker that trusts
        // the central directory would check `demo/core.py`.
        let tmp = tempfile::tempdir().unwrap();
        let path = write_wheel(tmp.path(), DEMO, demo(), None);
        patch_first(&path, b"demo/core.py", b"demo/evil.py");
        let err = check_wheel(&path).unwrap_err();
        assert!(matches!(err, WheelError::Zip { .. }), "{err:?}");
    }

    #[test]
    fn refuses_duplicate_entry_names() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DEMO);
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        write_zip(
            &path,
            &files(&[("demo/a.py", b"a"), ("demo/b.py", b"b")]),
            stored,
        );
        let mut bytes = std::fs::read(&path).unwrap();
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(9).position(|w| w == b"demo/b.py") {
            bytes[at + i..at + i + 9].copy_from_slice(b"demo/a.py");
            at += i + 9;
        }
        std::fs::write(&path, bytes).unwrap();
        let err = check_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Zip { detail, .. } if detail.contains("twice")),
            "{err:?}"
        );
    }
}
