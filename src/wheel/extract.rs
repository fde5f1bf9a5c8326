//! Extracting the wheels from a build container's output directory, refusing everything else.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{WheelError, WheelName, escaped};

/// (`out/`, `out/a-1.0-py3-none-any.whl`, ...), into the existing directory `dest`.
///
/// Only regular files with valid wheel names directly inside the archived directory are
/// written; the directory's own entry is skipped. Anything else is refused, with nothing kept
/// from the stream: links, devices, FIFOs, other files, deeper paths, `..`, absolute or
/// non-UTF-8 names, entries outside the directory, repeated names, and files over `max_bytes`.
/// Files are created with `create_new`, so an existing file (or a planted symlink) is never
/// followed or replaced. Returns the extracted file names in archive order.
pub fn extract_wheels<R: Read>(
    tar: R,
    dest: &Path,
    max_bytes: u64,
) -> Result<Vec<String>, WheelError> {
    let mut created = Vec::new();
    let result = extract_into(tar, dest, max_bytes, &mut created);
    if result.is_err() {
        // All or nothing: a refused stream leaves no wheels behind. Only files this call
        // created (create_new succeeded) are removed.
        for path in &created {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

fn extract_into<R: Read>(
    tar: R,
    dest: &Path,
    max_bytes: u64,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<String>, WheelError> {
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|source| WheelError::Tar { source })?;
    let mut top: Option<String> = None;
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|source| WheelError::Tar { source })?;
        let raw = entry.path_bytes().into_owned();
        let Ok(path) = std::str::from_utf8(&raw) else {
            return Err(WheelError::TarEntry {
                entry: raw.escape_ascii().to_string(),
                reason: "name is not UTF-8".into(),
            });
        };
        let refuse = |reason: String| WheelError::TarEntry {
            entry: escaped(path),
            reason,
        };
        if path.contains('\0') {
            return Err(refuse("name contains a NUL byte".into()));
        }
        if path.starts_with('/') {
            return Err(refuse("is an absolute path".into()));
        }
        let parts: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(refuse("has a `..` component".into()));
        }
        let kind = entry.header().entry_type();
        let (dir, file) = match parts.as_slice() {
            [] => return Err(refuse("has an empty path".into())),
            [dir] => {
                if !kind.is_dir() {
                    return Err(refuse(
                        "is not inside the output directory; a build should leave only wheel \
                         files in its output directory"
                            .into(),
                    ));
                }
                (*dir, None)
            }
            [dir, file] => (*dir, Some(*file)),
            _ => {
                return Err(refuse(
                    "is nested below the output directory; only wheels directly inside it are \
                     collected"
                        .into(),
                ));
            }
        };
        match &top {
            None => top = Some(dir.to_string()),
            Some(top) if top == dir => {}
            Some(top) => {
                return Err(refuse(format!(
                    "is outside the output directory `{}`",
                    escaped(top)
                )));
            }
        }
        let Some(file) = file else {
            continue; // the output directory's own entry
        };
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "a symbolic link".to_string()
            } else if kind.is_hard_link() {
                "a hard link".to_string()
            } else if kind.is_dir() {
                "a directory".to_string()
            } else if kind.is_character_special() || kind.is_block_special() {
                "a device".to_string()
            } else if kind.is_fifo() {
                "a FIFO".to_string()
            } else {
                format!("of tar type `{}`", kind.as_byte().escape_ascii())
            };
            return Err(refuse(format!(
                "is {what}, not a regular file; a build should leave only wheel files in its \
                 output directory"
            )));
        }
        if !file.ends_with(".whl") {
            return Err(refuse(
                "is not a wheel; a build should leave only `.whl` files in its output directory"
                    .into(),
            ));
        }
        if let Err(e) = WheelName::parse(file) {
            let reason = match e {
                WheelError::Name { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(refuse(format!("is not a valid wheel file name: {reason}")));
        }
        let size = entry.size();
        if size > max_bytes {
            return Err(WheelError::TooLarge {
                entry: escaped(path),
                size,
                max: max_bytes,
            });
        }
        if !seen.insert(file.to_string()) {
            return Err(refuse("appears twice in the archive".into()));
        }
        let target = dest.join(file);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|source| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    WheelError::Exists {
                        path: target.clone(),
                    }
                } else {
                    WheelError::Io {
                        path: target.clone(),
                        source,
                    }
                }
            })?;
        created.push(target.clone());
        let copied = copy_limited(&mut entry, &mut out, max_bytes, &target)?;
        if copied != size {
            return Err(refuse(format!(
                "holds {copied} bytes but its header says {size}"
            )));
        }
        names.push(file.to_string());
    }
    Ok(names)
}

/// Copy at most `max + 1` bytes, telling read errors (the stream) from write errors (`target`).
fn copy_limited(
    from: &mut impl Read,
    to: &mut File,
    max: u64,
    target: &Path,
) -> Result<u64, WheelError> {
    let mut from = from.take(max.saturating_add(1));
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(WheelError::Tar { source }),
        };
        to.write_all(&buf[..n]).map_err(|source| WheelError::Io {
            path: target.to_path_buf(),
            source,
        })?;
        total += n as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Append an entry with a hand-written header, so names and types that `tar::Builder`
    /// would refuse (`..`, absolute paths, links) can be produced.
    fn raw_entry(
        tar: &mut tar::Builder<Vec<u8>>,
        path: &[u8],
        kind: tar::EntryType,
        data: &[u8],
        link: &[u8],
    ) {
        let mut header = tar::Header::new_gnu();
        if path.len() > 100 {
            let mut long = tar::Header::new_gnu();
            long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            long.set_entry_type(tar::EntryType::GNULongName);
            long.set_size(path.len() as u64 + 1);
            long.set_mode(0o644);
            long.set_cksum();
            tar.append(&long, [path, b"\0"].concat().as_slice())
                .unwrap();
        }
        let short = &path[..path.len().min(100)];
        header.as_old_mut().name[..short.len()].copy_from_slice(short);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o4755);
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }

    enum E<'a> {
        Dir(&'a str),
        File(&'a [u8], &'a [u8]),
        Link(tar::EntryType, &'a str, &'a str),
    }

    fn tar_of(entries: &[E]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for entry in entries {
            match entry {
                E::Dir(p) => raw_entry(&mut tar, p.as_bytes(), tar::EntryType::Directory, b"", b""),
                E::File(p, data) => raw_entry(&mut tar, p, tar::EntryType::Regular, data, b""),
                E::Link(kind, p, to) => {
                    raw_entry(&mut tar, p.as_bytes(), *kind, b"", to.as_bytes())
                }
            }
        }
        tar.into_inner().unwrap()
    }

    const A: &[u8] = b"out/a-1.0-py3-none-any.whl";
    const B: &[u8] = b"out/b-2.0-cp311-cp311-linux_x86_64.whl";

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn extracts_the_wheels_of_an_output_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(B, b"bbb"), E::File(A, b"aaaa")]);
        let names = extract_wheels(stream.as_slice(), tmp.path(), 4).unwrap();
        assert_eq!(
            names,
            [
                "b-2.0-cp311-cp311-linux_x86_64.whl",
                "a-1.0-py3-none-any.whl"
            ]
        );
        assert_eq!(
            std::fs::read(tmp.path().join("a-1.0-py3-none-any.whl")).unwrap(),
            b"aaaa"
        );
        assert_eq!(
            std::fs::read(tmp.path().join("b-2.0-cp311-cp311-linux_x86_64.whl")).unwrap(),
            b"bbb"
        );
        assert_eq!(listing(tmp.path()).len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("a-1.0-py3-none-any.whl"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o7000, 0, "no setuid from the archive: {mode:o}");
        }
        // `./out/` spellings and an empty output directory are fine too.
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[
            E::Dir("./out"),
            E::File(b"./out/a-1.0-py3-none-any.whl", b"a"),
        ]);
        assert_eq!(
            extract_wheels(stream.as_slice(), tmp.path(), 4).unwrap(),
            ["a-1.0-py3-none-any.whl"]
        );
        let stream = tar_of(&[E::Dir("out/")]);
        assert!(
            extract_wheels(stream.as_slice(), tmp.path(), 4)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn refuses_malicious_entries_and_keeps_nothing() {
        use tar::EntryType::{Block, Char, Fifo, Link, Symlink};
        let long_escape = format!("out/{}/../../../evil-1.0-py3-none-any.whl", "d".repeat(120));
        let cases: Vec<(&str, Vec<E>, &str)> = vec![
            (
                "dotdot",
                vec![E::File(b"../evil-1.0-py3-none-any.whl", b"x")],
                "`..`",
            ),
            (
                "inner dotdot",
                vec![
                    E::Dir("out/"),
                    E::File(b"out/../../evil-1.0-py3-none-any.whl", b"x"),
                ],
                "`..`",
            ),
            (
                "long dotdot",
                vec![E::Dir("out/"), E::File(long_escape.as_bytes(), b"x")],
                "`..`",
            ),
            (
                "absolute",
                vec![E::File(b"/abs-1.0-py3-none-any.whl", b"x")],
                "absolute",
            ),
            (
                "symlink",
                vec![
                    E::Dir("out/"),
                    E::Link(Symlink, "out/link-1.0-py3-none-any.whl", "/etc/passwd"),
                ],
                "symbolic link",
            ),
            (
                "hardlink",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::Link(Link, "out/hard-1.0-py3-none-any.whl", "/etc/shadow"),
                ],
                "hard link",
            ),
            (
                "char device",
                vec![
                    E::Dir("out/"),
                    E::Link(Char, "out/tty-1.0-py3-none-any.whl", ""),
                ],
                "device",
            ),
            (
                "block device",
                vec![
                    E::Dir("out/"),
                    E::Link(Block, "out/sda-1.0-py3-none-any.whl", ""),
                ],
                "device",
            ),
            (
                "fifo",
                vec![
                    E::Dir("out/"),
                    E::Link(Fifo, "out/pipe-1.0-py3-none-any.whl", ""),
                ],
                "FIFO",
            ),
            (
                "nested file",
                vec![
                    E::Dir("out/"),
                    E::File(b"out/sub/x-1.0-py3-none-any.whl", b"x"),
                ],
                "nested",
            ),
            (
                "nested dir",
                vec![E::Dir("out/"), E::Dir("out/sub/")],
                "directory",
            ),
            (
                "deep dir",
                vec![E::Dir("out/"), E::Dir("out/sub/deeper/")],
                "nested",
            ),
            (
                "not a wheel",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::File(b"out/notes.txt", b"hi"),
                ],
                "only `.whl` files",
            ),
            (
                "bad wheel name",
                vec![E::Dir("out/"), E::File(b"out/evil.whl", b"x")],
                "not a valid wheel file name",
            ),
            (
                "top-level file",
                vec![E::File(b"a-1.0-py3-none-any.whl", b"x")],
                "not inside the output directory",
            ),
            (
                "top-level symlink",
                vec![E::Link(Symlink, "out", "/etc")],
                "not inside the output directory",
            ),
            (
                "two directories",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::File(b"other/b-1.0-py3-none-any.whl", b"b"),
                ],
                "outside the output directory `out`",
            ),
            (
                "non-utf8",
                vec![
                    E::Dir("out/"),
                    E::File(b"out/\xff-1.0-py3-none-any.whl", b"x"),
                ],
                "not UTF-8",
            ),
            (
                "duplicate",
                vec![E::Dir("out/"), E::File(A, b"a"), E::File(A, b"evil")],
                "twice",
            ),
            (
                "duplicate via dot",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::File(b"out/./a-1.0-py3-none-any.whl", b"evil"),
                ],
                "twice",
            ),
            ("empty path", vec![E::Dir("./")], "empty path"),
        ];
        for (what, entries, want) in cases {
            let root = tempfile::tempdir().unwrap();
            let dest = root.path().join("dest");
            std::fs::create_dir(&dest).unwrap();
            match extract_wheels(tar_of(&entries).as_slice(), &dest, 1 << 20) {
                Err(e @ WheelError::TarEntry { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{what}: {msg} lacks {want:?}");
                    assert!(e.hint().is_some());
                }
                other => panic!("{what}: expected a refusal, got {other:?}"),
            }
            assert!(
                listing(&dest).is_empty(),
                "{what}: left {:?}",
                listing(&dest)
            );
            assert_eq!(listing(root.path()), ["dest"], "{what}: wrote outside dest");
        }
    }

    #[test]
    fn refuses_oversize_files() {
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"0123456789")]);
        assert_eq!(
            extract_wheels(stream.as_slice(), tmp.path(), 10)
                .unwrap()
                .len(),
            1
        );
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"0123456789!")]);
        let err = extract_wheels(stream.as_slice(), tmp.path(), 10).unwrap_err();
        assert!(
            matches!(&err, WheelError::TooLarge { entry, size: 11, max: 10 } if entry == "out/a-1.0-py3-none-any.whl"),
            "{err:?}"
        );
        assert!(listing(tmp.path()).is_empty());
    }

    #[test]
    fn refuses_a_truncated_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let mut stream = tar_of(&[E::Dir("out/"), E::File(A, &[7u8; 2000])]);
        stream.truncate(512 * 2 + 700);
        let err = extract_wheels(stream.as_slice(), tmp.path(), 1 << 20).unwrap_err();
        assert!(
            matches!(err, WheelError::TarEntry { .. } | WheelError::Tar { .. }),
            "{err:?}"
        );
        assert!(listing(tmp.path()).is_empty());
    }

    #[test]
    fn never_replaces_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let existing = tmp.path().join("a-1.0-py3-none-any.whl");
        std::fs::write(&existing, b"old").unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(B, b"b"), E::File(A, b"new")]);
        let err = extract_wheels(stream.as_slice(), tmp.path(), 100).unwrap_err();
        assert!(
            matches!(&err, WheelError::Exists { path } if *path == existing),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&existing).unwrap(), b"old");
        assert_eq!(
            listing(tmp.path()),
            ["a-1.0-py3-none-any.whl"],
            "b is removed again"
        );
    }

    #[cfg(unix)]
    #[test]
    fn never_follows_a_planted_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dest.join("a-1.0-py3-none-any.whl")).unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"evil")]);
        let err = extract_wheels(stream.as_slice(), &dest, 100).unwrap_err();
        assert!(matches!(err, WheelError::Exists { .. }), "{err:?}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            dest.join("a-1.0-py3-none-any.whl").is_symlink(),
            "the link itself is left alone"
        );
    }

    #[test]
    fn reports_a_missing_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"a")]);
        let err = extract_wheels(stream.as_slice(), &tmp.path().join("nope"), 100).unwrap_err();
        assert!(matches!(err, WheelError::Io { .. }), "{err:?}");
    }

    #[test]
    fn odd_streams_return_without_writing() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(
            extract_wheels(&b""[..], tmp.path(), 100)
                .unwrap()
                .is_empty()
        );
        let long_name = format!("out/{}-1.0-py3-none-any.whl", "a".repeat(300));
        let many_dashes = format!("out/{}a.whl", "a-".repeat(100));
        // A header that claims the largest size there is, with no data behind it.
        let mut header = tar::Header::new_gnu();
        header.set_path("out/a-1.0-py3-none-any.whl").unwrap();
        header.set_size(u64::MAX);
        header.set_cksum();
        let mut huge = header.as_bytes().to_vec();
        huge.extend([0u8; 1024]);
        for (what, stream) in [
            ("garbage", vec![0xff; 1536]),
            ("half a header", tar_of(&[E::Dir("out/")])[..300].to_vec()),
            (
                "long name",
                tar_of(&[E::Dir("out/"), E::File(long_name.as_bytes(), b"x")]),
            ),
            (
                "many dashes",
                tar_of(&[E::Dir("out/"), E::File(many_dashes.as_bytes(), b"x")]),
            ),
            ("huge size", huge),
        ] {
            let result = extract_wheels(stream.as_slice(), tmp.path(), 1 << 20);
            assert!(result.is_err(), "{what}: {result:?}");
            assert!(listing(tmp.path()).is_empty(), "{what}");
        }
    }
}
