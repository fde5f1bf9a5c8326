//! Files of this machine that a container needs (the sources at their locked commit, the
//! CA bundle) and the owners of its cache volumes' roots, sent into the created, not yet
//! started container through the Engine API as one tar stream (`PUT /containers/{id}/
//! archive`, extracted at `/`).
//!
//! Nothing reaches a container through a host path: on an engine whose filesystem is not
//! this machine's (`DOCKER_HOST=ssh://…`) a bind mount finds nothing, and dockerd
//! creates an empty root-owned folder in its place.
//!
//! The archive is written by a blocking thread into a bounded channel of fixed-size
//! chunks, so a large tree is never held in memory: at most [`CHUNKS`] × [`CHUNK`] bytes
//! are in flight. A tree's entries are root's (the non-root build user cannot change
//! them, as with the read-only bind mount before) and keep their modification times and
//! modes, made readable by everyone (executable by everyone where the owner may execute:
//! a checkout made under umask 077 is still readable by the build user); symlinks stay
//! symlinks, hard links become regular files, anything else (sockets, devices) is
//! refused.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::Stream;

/// Bytes per chunk sent to the daemon.
pub const CHUNK: usize = 256 * 1024;
/// Chunks written ahead of the upload at most.
pub const CHUNKS: usize = 4;

/// What to send into a container: extracted at `/`, so every path is relative to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upload {
    /// A directory tree of this machine and where it goes (`wheelbuild/src`).
    trees: Vec<(PathBuf, String)>,
    /// A file of this machine and where it goes, read-only for everyone.
    files: Vec<(PathBuf, String)>,
    /// An (existing or new) directory handed to `uid:gid` (a cache volume's root).
    owned: Vec<(String, u32, u32)>,
    /// Bytes made here, where they go and their owner (`uid`, `gid`), readable by it only.
    secrets: Vec<(Secret, String, u32, u32)>,
}

/// Bytes that may hold credentials: never shown.
#[derive(Clone, PartialEq, Eq)]
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Upload {
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
            && self.files.is_empty()
            && self.owned.is_empty()
            && self.secrets.is_empty()
    }

    /// The tree at `dir` as the directory `at` (an absolute container path).
    pub fn tree(&mut self, dir: &Path, at: &str) {
        self.trees.push((dir.to_path_buf(), relative(at)));
    }

    /// The file at `path` as the file `at` (an absolute container path; its parent is
    /// created, root-owned, when missing).
    pub fn file(&mut self, path: &Path, at: &str) {
        self.files.push((path.to_path_buf(), relative(at)));
    }

    /// `bytes`, which may hold credentials, as the file `at` (an absolute container path;
    /// its parent is created, root-owned, when missing), readable by root only. Straight
    /// from memory: a file of this machine would outlive a killed run.
    pub fn secret(&mut self, bytes: Vec<u8>, at: &str) {
        self.secret_for(bytes, at, 0, 0);
    }

    /// [`Self::secret`], readable by `uid:gid` only (a build's non-root user).
    pub fn secret_for(&mut self, bytes: Vec<u8>, at: &str, uid: u32, gid: u32) {
        self.secrets.push((Secret(bytes), relative(at), uid, gid));
    }

    /// The directory `at` (an absolute container path: a volume's mount point) owned by
    /// `uid:gid`, mode 0755.
    pub fn owned_dir(&mut self, at: &str, uid: u32, gid: u32) {
        self.owned.push((relative(at), uid, gid));
    }

    /// What is sent, for messages: the trees and files of this machine.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .trees
            .iter()
            .chain(&self.files)
            .map(|(p, at)| format!("{} (as /{at})", p.display()))
            .chain(self.secrets.iter().map(|(_, at, _, _)| format!("/{at}")))
            .collect();
        if parts.is_empty() {
            parts.push("the cache volumes' owners".into());
        }
        parts.join(", ")
    }

    /// Add everything of `other`.
    pub fn extend(&mut self, other: Upload) {
        self.trees.extend(other.trees);
        self.files.extend(other.files);
        self.owned.extend(other.owned);
        self.secrets.extend(other.secrets);
    }

    /// The archive as a stream of chunks, written by a blocking thread as the stream is
    /// read (the thread stops when the stream is dropped). An unreadable file ends the
    /// stream with its error, which [`Failure::take`] also gives (the HTTP client that
    /// sends the stream reports only that the body ended).
    pub fn stream(
        self,
    ) -> (
        impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
        Failure,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS);
        let failure = Failure::default();
        let failed = failure.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = ChunkWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let result = self.write(&mut out).and_then(|()| out.send());
            if let Err(e) = result {
                // Not the upload's own end (the receiver gone): say why it stopped.
                if e.kind() != io::ErrorKind::BrokenPipe {
                    *failed.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                }
                let _ = tx.blocking_send(Err(e));
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        (stream, failure)
    }

    /// Write the whole archive to `out`.
    pub fn write(&self, out: impl Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        for (at, uid, gid) in &self.owned {
            let mut h = header(tar::EntryType::Directory, 0o755, *uid, *gid, 0);
            tar.append_data(&mut h, format!("{at}/"), io::empty())?;
        }
        for (Secret(bytes), at, uid, gid) in &self.secrets {
            parent_dir(&mut tar, at)?;
            let mut h = header(tar::EntryType::Regular, 0o400, *uid, *gid, 0);
            h.set_size(bytes.len() as u64);
            tar.append_data(&mut h, at, bytes.as_slice())?;
        }
        for (path, at) in &self.files {
            parent_dir(&mut tar, at)?;
            let meta = std::fs::metadata(path).map_err(|e| named(path, e))?;
            let file = std::fs::File::open(path).map_err(|e| named(path, e))?;
            let mut h = header(tar::EntryType::Regular, 0o444, 0, 0, mtime(&meta));
            h.set_size(meta.len());
            tar.append_data(&mut h, at, Exact::new(file, meta.len(), path))?;
        }
        for (dir, at) in &self.trees {
            append_tree(&mut tar, dir, at)?;
        }
        tar.into_inner()?.flush()
    }
}

/// The parent directory of `at`, root-owned, for a file that may be the first in it.
fn parent_dir<W: Write>(tar: &mut tar::Builder<W>, at: &str) -> io::Result<()> {
    if let Some((parent, _)) = at.rsplit_once('/') {
        let mut h = header(tar::EntryType::Directory, 0o755, 0, 0, 0);
        tar.append_data(&mut h, format!("{parent}/"), io::empty())?;
    }
    Ok(())
}

/// `/a/b` → `a/b`.
fn relative(at: &str) -> String {
    at.trim_start_matches('/').trim_end_matches('/').to_string()
}

fn header(kind: tar::EntryType, mode: u32, uid: u32, gid: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

fn mtime(meta: &std::fs::Metadata) -> u64 {
    u64::try_from(meta.mtime()).unwrap_or(0)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `dir` and everything under it as `at/…`, depth first in name order (the same archive
/// for the same tree).
fn append_tree<W: Write>(tar: &mut tar::Builder<W>, dir: &Path, at: &str) -> io::Result<()> {
    let mut stack = vec![(dir.to_path_buf(), at.to_string())];
    while let Some((path, name)) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| named(&path, e))?;
        let (mode, uid, gid, time) = (readable(meta.mode()), 0, 0, mtime(&meta));
        let kind = meta.file_type();
        if kind.is_dir() {
            let mut h = header(tar::EntryType::Directory, mode, uid, gid, time);
            tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            let mut children = std::fs::read_dir(&path)
                .map_err(|e| named(&path, e))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<Vec<_>>>()
                .map_err(|e| named(&path, e))?;
            // Popped in reverse: pushed in reverse name order.
            children.sort_unstable_by(|a, b| b.cmp(a));
            for child in children {
                let child_name = format!("{name}/{}", child.to_string_lossy());
                if child.to_str().is_none() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: a file name that is not UTF-8",
                            path.join(&child).display()
                        ),
                    ));
                }
                stack.push((path.join(&child), child_name));
            }
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| named(&path, e))?;
            let mut h = header(tar::EntryType::Symlink, mode, uid, gid, time);
            tar.append_link(&mut h, &name, &target)?;
        } else if kind.is_file() {
            let file = std::fs::File::open(&path).map_err(|e| named(&path, e))?;
            let mut h = header(tar::EntryType::Regular, mode, uid, gid, time);
            h.set_size(meta.len());
            tar.append_data(&mut h, &name, Exact::new(file, meta.len(), &path))?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: not a file, directory or symlink; it cannot be sent to the engine",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// `mode` (permission bits only) readable by everyone, and executable by everyone where
/// its owner may execute (directories: searchable).
fn readable(mode: u32) -> u32 {
    let mode = mode & 0o777;
    let mode = mode | 0o444;
    if mode & 0o100 != 0 {
        mode | 0o111
    } else {
        mode
    }
}

/// A reader of exactly `len` bytes of a file: one that changed size while it was archived
/// is an error, not a corrupt archive.
struct Exact {
    inner: io::Take<std::fs::File>,
    left: u64,
    path: PathBuf,
}

impl Exact {
    fn new(file: std::fs::File, len: u64, path: &Path) -> Exact {
        Exact {
            inner: file.take(len),
            left: len,
            path: path.to_path_buf(),
        }
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: shrank while it was archived", self.path.display()),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Why the writer of an upload's stream stopped early, if it did.
#[derive(Debug, Clone, Default)]
pub struct Failure(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl Failure {
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Writes into fixed-size chunks sent down a bounded channel (blocking when it is full).
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload was abandoned"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn entries(upload: &Upload) -> Vec<(String, tar::EntryType, u32, u64, u64, Vec<u8>)> {
        let mut bytes = Vec::new();
        upload.write(&mut bytes).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let data = if h.entry_type().is_symlink() {
                    e.link_name()
                        .unwrap()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                        .into_bytes()
                } else {
                    data
                };
                (
                    name,
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    data,
                )
            })
            .collect()
    }

    #[test]
    fn a_tree_keeps_modes_links_and_times_under_its_new_name_as_roots() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("checkout");
        std::fs::create_dir_all(src.join(".git/objects")).unwrap();
        std::fs::write(src.join("setup.py"), "x").unwrap();
        std::fs::write(src.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(src.join(".git/HEAD"), "abc\n").unwrap();
        std::os::unix::fs::symlink("setup.py", src.join("link")).unwrap();
        // Made under umask 077: readable by the build user all the same.
        std::fs::write(src.join(".git/config"), "[core]\n").unwrap();
        std::fs::set_permissions(
            src.join(".git/config"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let mut up = Upload::default();
        up.tree(&src, "/wheelbuild/src");
        up.owned_dir("/wheelbuild/cache/ccache", 1234, 1234);
        let got = entries(&up);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "wheelbuild/cache/ccache/",
                "wheelbuild/src/",
                "wheelbuild/src/.git/",
                "wheelbuild/src/.git/HEAD",
                "wheelbuild/src/.git/config",
                "wheelbuild/src/.git/objects/",
                "wheelbuild/src/link",
                "wheelbuild/src/run.sh",
                "wheelbuild/src/setup.py",
            ]
        );
        assert_eq!((got[0].2, got[0].3), (0o755, 1234));
        let run = got.iter().find(|e| e.0.ends_with("run.sh")).unwrap();
        assert_eq!(run.2, 0o755);
        let meta = std::fs::metadata(src.join("run.sh")).unwrap();
        assert_eq!(run.4, meta.mtime() as u64);
        assert_eq!(run.3, 0, "root's: the build user cannot change the sources");
        let config = got.iter().find(|e| e.0.ends_with("config")).unwrap();
        assert_eq!(config.2, 0o644);
        let link = got.iter().find(|e| e.0.ends_with("link")).unwrap();
        assert_eq!(
            (link.1, link.5.as_slice()),
            (tar::EntryType::Symlink, &b"setup.py"[..])
        );
    }

    #[test]
    fn a_file_goes_read_only_into_a_created_parent() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "PEM").unwrap();
        let mut up = Upload::default();
        up.file(&ca, "/etc/wheelbuild/ca-certificates.crt");
        let got = entries(&up);
        assert_eq!(got[0].0, "etc/wheelbuild/");
        assert_eq!(got[1].0, "etc/wheelbuild/ca-certificates.crt");
        assert_eq!(
            (got[1].2, got[1].3, got[1].5.as_slice()),
            (0o444, 0, &b"PEM"[..])
        );
    }

    #[test]
    fn a_secret_goes_from_memory_readable_by_root_only_and_is_never_shown() {
        let mut up = Upload::default();
        up.secret(b"TOKEN='s3cret'".to_vec(), "/etc/wheelbuild/setup.env");
        let got = entries(&up);
        assert_eq!(got[0].0, "etc/wheelbuild/");
        assert_eq!(got[1].0, "etc/wheelbuild/setup.env");
        assert_eq!(
            (got[1].2, got[1].3, got[1].5.as_slice()),
            (0o400, 0, &b"TOKEN='s3cret'"[..])
        );
        for shown in [format!("{up:?}"), up.describe()] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stream_is_chunked_and_reports_a_missing_file() {
        use futures::StreamExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![7u8; 3 * CHUNK + 5]).unwrap();
        let mut up = Upload::default();
        up.tree(dir.path(), "/src");
        let mut expected = Vec::new();
        up.write(&mut expected).unwrap();
        let (stream, failure) = up.stream();
        let chunks: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        assert_eq!(failure.take(), None);
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
        assert_eq!(chunks.concat(), expected);

        let mut up = Upload::default();
        up.file(&dir.path().join("nope"), "/x/y");
        let (stream, failure) = up.stream();
        let items: Vec<_> = stream.collect().await;
        let err = items.into_iter().find_map(Result::err).unwrap();
        assert!(err.to_string().contains("nope"), "{err}");
        assert_eq!(failure.take(), Some(err.to_string()));
    }
}
