//! Reading the wheelhouse for the index: each directory's wheels and their stamps.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{File, IndexError, LeftOut, Projects, WhyLeftOut};
use crate::accel::Accel;
use crate::config::Target;
use crate::wheel::{WheelName, normalize_name};
use crate::wheelhouse::Stamp;
use crate::wheelhouse::stamps::{self, Stamps};

/// What the wheelhouse holds for the index, as read: every variant's projects and their
/// files, and the wheels left out.
pub(super) struct Listing {
    /// Variant tag → project → files.
    pub repos: BTreeMap<String, Projects>,
    pub left_out: Vec<LeftOut>,
}

/// Read the stamps of every directory `targets` place wheels in, a directory a thread.
pub(super) fn wheelhouse(out: &Path, targets: &[Target]) -> Result<Listing, IndexError> {
    // Every variant of the config gets a repository, empty or not.
    let mut tags: BTreeMap<&Accel, String> = BTreeMap::new();
    for t in targets {
        tags.entry(&t.cell.accel)
            .or_insert_with(|| t.cell.accel.tag());
    }
    // Directory → (target id → its variant).
    let mut dirs: BTreeMap<&str, HashMap<&str, &str>> = BTreeMap::new();
    for t in targets {
        dirs.entry(&t.output_subdir)
            .or_default()
            .insert(&t.id, &tags[&t.cell.accel]);
    }
    let dirs: Vec<_> = dirs.into_iter().collect();
    let scanned = crate::par::map_each(
        &dirs,
        crate::par::threads_for(targets.len()),
        |(subdir, owners)| scan(out, subdir, owners),
    );
    let mut listing = Listing {
        repos: tags
            .values()
            .map(|t| (t.clone(), BTreeMap::new()))
            .collect(),
        left_out: Vec::new(),
    };
    for dir in scanned {
        let dir = dir?;
        listing.left_out.extend(dir.left_out);
        for (tag, project, file) in dir.listed {
            listing
                .repos
                .get_mut(tag)
                .expect("every target's tag has a repository")
                .entry(project)
                .or_default()
                .push(file);
        }
    }
    Ok(listing)
}

/// What one wheelhouse directory holds for the index.
struct Scanned<'a> {
    /// `(variant tag, normalized project, file)`.
    listed: Vec<(&'a str, String, File)>,
    left_out: Vec<LeftOut>,
}

/// Read the stamps of the wheels in `subdir` (owned by the targets `owners`). Files are
/// opened relative to the directory (no path walk per file): a wheelhouse of a thousand
/// cells is a thousand directories of a wheel or two.
fn scan<'a>(
    out: &Path,
    subdir: &str,
    owners: &HashMap<&str, &'a str>,
) -> Result<Scanned<'a>, IndexError> {
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
    let dir = out.join(subdir);
    let err = |e: rustix::io::Errno| IndexError::Io {
        what: "reading the wheelhouse directory",
        path: dir.clone(),
        source: e.into(),
    };
    let mut scanned = Scanned {
        listed: Vec::new(),
        left_out: Vec::new(),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(&dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(scanned),
        Err(e) => return Err(err(e)),
    };
    let mut listing = Dir::new(fd).map_err(err)?;
    let mut wheels = Vec::new();
    for entry in &mut listing {
        let entry = entry.map_err(err)?;
        if matches!(entry.file_type(), FileType::Directory) {
            continue;
        }
        if let Ok(name) = entry.file_name().to_str()
            && name.ends_with(".whl")
        {
            wheels.push(name.to_string());
        }
    }
    wheels.sort();
    let dirfd = listing.fd().map_err(err)?;
    // One file for the directory; a wheelhouse not placed into since it had one stamp
    // per wheel is read that way.
    let mut stamps = read_at(dirfd, stamps::FILE).map(|b| Stamps::parse(&b).unwrap_or_default());
    for name in wheels {
        let leave_out = |reason| LeftOut {
            wheel: dir.join(&name),
            reason,
        };
        // Gone since the listing, or not a file: nothing to list.
        let stat = match rustix::fs::statat(dirfd, name.as_str(), AtFlags::empty()) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => st,
            _ => continue,
        };
        let stamp: Option<Stamp> = match &mut stamps {
            Some(stamps) => stamps.wheels.remove(&name),
            None => read_at(dirfd, &format!("{name}{}", stamps::LEGACY_SUFFIX))
                .and_then(|b| serde_json::from_slice(&b).ok()),
        };
        let Some(stamp) = stamp.filter(|s| is_hex_sha256(&s.sha256)) else {
            scanned.left_out.push(leave_out(WhyLeftOut::NoStamp));
            continue;
        };
        let mtime = u128::try_from(stat.st_mtime).unwrap_or(0) * 1_000_000_000
            + u128::from(stat.st_mtime_nsec);
        if stamp.size != stat.st_size as u64 || stamp.mtime_ns != mtime {
            scanned.left_out.push(leave_out(WhyLeftOut::Changed));
            continue;
        }
        let Some(&tag) = owners.get(stamp.target.as_str()) else {
            scanned
                .left_out
                .push(leave_out(WhyLeftOut::ForeignTarget(stamp.target)));
            continue;
        };
        let parsed = match WheelName::parse(&name) {
            Ok(n) => n,
            Err(e) => {
                scanned
                    .left_out
                    .push(leave_out(WhyLeftOut::BadName(e.to_string())));
                continue;
            }
        };
        scanned.listed.push((
            tag,
            normalize_name(&parsed.distribution),
            File {
                subdir: subdir.to_string(),
                variant: parsed
                    .variant
                    .map(|label| (format!("{}-{}", parsed.distribution, parsed.version), label)),
                filename: name,
                version: parsed.version,
                sha256: stamp.sha256,
                size: stamp.size,
            },
        ));
    }
    Ok(scanned)
}

/// The bytes of the file `name` in the directory `dirfd`; `None` when it cannot be read.
fn read_at(dirfd: rustix::fd::BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let flags =
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOFOLLOW;
    let fd = rustix::fs::openat(dirfd, name, flags, rustix::fs::Mode::empty()).ok()?;
    let mut file = std::fs::File::from(fd);
    // A stamps file of a directory of a few wheels takes one read: a short read of a
    // regular file is its end (std's `read_to_end` probes and grows: four reads).
    let mut buf = [0u8; 16 * 1024];
    let mut bytes = Vec::new();
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(bytes),
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    return Some(bytes);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
