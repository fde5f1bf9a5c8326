//! Relabelling a built wheel: a PEP 440 local version (`1.2.0` → `1.2.0+cu118`, as PyTorch
//! names its wheels) and a PEP 825 variant (`…-cu118.whl` with `*.dist-info/variant.json`).
//!
//! The wheel is rewritten entry by entry in its own order: unchanged entries are copied raw
//! (compressed bytes, times and modes kept, so a large CUDA wheel costs a copy, not a
//! recompression), the `.dist-info` and `.data` folders are renamed for the new version,
//! METADATA gets the new `Version:`, `variant.json` is written just before RECORD, and
//! RECORD is rewritten with the renamed paths and the new hashes. The same input gives the
//! same bytes, so relabelled wheels stay reproducible.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::archive::{Opened, ZipEntry, open};
use super::record::{self, RecordRow};
use super::{WheelError, WheelName, escaped};

/// The file PEP 825 puts in `.dist-info`.
pub(crate) const VARIANT_FILE: &str = "variant.json";

/// Largest METADATA read into memory (it is rewritten whole).
const MAX_METADATA: u64 = 16 << 20;

/// What to change in a wheel.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Relabel<'a> {
    /// A PEP 440 local version label, normalized (`cu118`, `rocm5.2`).
    pub local_version: Option<&'a str>,
    /// A PEP 825 variant: its label and the bytes of its `variant.json`.
    pub variant: Option<(&'a str, &'a [u8])>,
}

impl Relabel<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.local_version.is_none() && self.variant.is_none()
    }
}

/// Write `path`, relabelled as `spec` says, beside it under its new name, and return the new
/// path (the original is left in place). `path` must be a wheel [`super::check_wheel`]
/// accepted.
pub(crate) fn relabel(path: &Path, spec: &Relabel<'_>) -> Result<PathBuf, WheelError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = WheelName::parse(file_name)?;
    let old_version = name.version.clone();
    let name = relabelled_name(path, name, spec)?;
    let new_path = path.with_file_name(name.to_string());
    if new_path == path {
        return Ok(new_path);
    }

    let mut opened = open(path)?;
    let dist_info = DistInfo::find(path, &opened.entries, &name.version)?;
    let tmp = path.with_file_name(format!(".{}.relabel", name));
    let out = std::fs::File::create(&tmp).map_err(|source| WheelError::Io {
        path: tmp.clone(),
        source,
    })?;
    let rewrite = Rewrite {
        path,
        tmp: &tmp,
        spec,
        dist_info: &dist_info,
        old_version: &old_version,
        new_version: &name.version,
    };
    if let Err(e) = rewrite.write(&mut opened, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if new_path.exists() {
        let _ = std::fs::remove_file(&tmp);
        return Err(WheelError::Exists { path: new_path });
    }
    std::fs::rename(&tmp, &new_path).map_err(|source| WheelError::Io {
        path: new_path.clone(),
        source,
    })?;
    Ok(new_path)
}

/// Why the wheel at `path`, as it is laid out, cannot be relabelled.
fn layout(path: &Path, detail: String) -> WheelError {
    WheelError::Layout {
        path: path.to_path_buf(),
        detail,
    }
}

/// `name` with the local version and variant label of `spec`: a version that has a local
/// version label, or a wheel that is a variant already, cannot take another.
fn relabelled_name(
    path: &Path,
    mut name: WheelName,
    spec: &Relabel<'_>,
) -> Result<WheelName, WheelError> {
    if let Some(local) = spec.local_version {
        if name.version.contains('+') {
            return Err(layout(
                path,
                format!(
                    "version `{}` already has a local version label, so `+{local}` cannot be added",
                    escaped(&name.version)
                ),
            ));
        }
        name.version = format!("{}+{local}", name.version);
    }
    if let Some((label, _)) = spec.variant {
        if let Some(old) = &name.variant {
            return Err(layout(
                path,
                format!("it is already a variant wheel (label `{}`)", escaped(old)),
            ));
        }
        name.variant = Some(label.to_string());
    }
    Ok(name)
}

/// A wheel's `.dist-info` directory, and the `.dist-info` and `.data` directories it
/// becomes for the new version.
struct DistInfo {
    /// `{dist}-{version}.dist-info` as the build wrote it.
    dir: String,
    /// `(old prefix, new prefix)` of each renamed directory.
    renames: [(String, String); 2],
}

impl DistInfo {
    /// `check_wheel` found exactly one `{dist}-{version}.dist-info`; its `{dist}` is kept as
    /// the build wrote it.
    fn find(path: &Path, entries: &[ZipEntry], version: &str) -> Result<DistInfo, WheelError> {
        let dir = entries
            .iter()
            .filter_map(|e| e.name.split('/').next())
            .find(|top| top.ends_with(".dist-info"))
            .map(str::to_string)
            .ok_or_else(|| layout(path, "no top-level `.dist-info` directory".into()))?;
        let stem = dir.trim_end_matches(".dist-info");
        let dist = stem
            .rsplit_once('-')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        let renames = [
            (
                format!("{stem}.dist-info/"),
                format!("{dist}-{version}.dist-info/"),
            ),
            (format!("{stem}.data/"), format!("{dist}-{version}.data/")),
        ];
        Ok(DistInfo { dir, renames })
    }

    /// The path of the file `name` in the directory, as the wheel has it.
    fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// `entry`'s path in the relabelled wheel.
    fn renamed(&self, entry: &str) -> String {
        for (from, to) in &self.renames {
            if let Some(rest) = entry.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        entry.to_string()
    }
}

/// One relabelling of the wheel at `path`, written to `tmp`.
struct Rewrite<'a> {
    path: &'a Path,
    tmp: &'a Path,
    spec: &'a Relabel<'a>,
    dist_info: &'a DistInfo,
    old_version: &'a str,
    new_version: &'a str,
}

impl Rewrite<'_> {
    /// Write the relabelled wheel to `out` (the file at `tmp`), entry by entry in the
    /// wheel's own order, and sync it.
    fn write(&self, opened: &mut Opened, out: std::fs::File) -> Result<(), WheelError> {
        let metadata_path = self.dist_info.file("METADATA");
        let record_path = self.dist_info.file("RECORD");
        let variant_path = self.dist_info.file(VARIANT_FILE);
        let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(out));
        // New hashes and sizes for RECORD, by the entry's old path.
        let mut rewritten: Vec<(String, String, u64)> = Vec::new();
        let entries: Vec<ZipEntry> = std::mem::take(&mut opened.entries);
        for entry in &entries {
            let new_name = self.dist_info.renamed(&entry.name);
            if entry.name == variant_path {
                // A build's own `variant.json` is replaced by the declared one.
                continue;
            }
            if entry.name == metadata_path {
                let file = opened.zip.by_index(entry.index).map_err(self.zip_err())?;
                let options = file.options();
                let text = self.metadata(file, &metadata_path)?;
                writer
                    .start_file(&new_name, options)
                    .map_err(self.zip_err())?;
                writer.write_all(&text).map_err(self.write_err())?;
                rewritten.push((entry.name.clone(), b64_sha256(&text), text.len() as u64));
                continue;
            }
            if entry.name == record_path {
                let options = opened
                    .zip
                    .by_index(entry.index)
                    .map_err(self.zip_err())?
                    .options();
                if let Some((_, json)) = self.spec.variant {
                    writer
                        .start_file(self.dist_info.renamed(&variant_path), options)
                        .map_err(self.zip_err())?;
                    writer.write_all(json).map_err(self.write_err())?;
                }
                let rows = record::parse(&record::read(self.path, &mut opened.zip, entry.index)?)
                    .map_err(|e| WheelError::Record {
                    path: self.path.to_path_buf(),
                    line: e.line,
                    detail: e.detail,
                })?;
                let renamed = |entry: &str| self.dist_info.renamed(entry);
                let text = new_record(
                    &rows,
                    &renamed,
                    &rewritten,
                    &variant_path,
                    self.spec.variant,
                )
                .map_err(|detail| layout(self.path, detail))?;
                writer
                    .start_file(&new_name, options)
                    .map_err(self.zip_err())?;
                writer.write_all(&text).map_err(self.write_err())?;
                continue;
            }
            let file = opened
                .zip
                .by_index_raw(entry.index)
                .map_err(self.zip_err())?;
            if new_name == entry.name {
                writer.raw_copy_file(file).map_err(self.zip_err())?;
            } else {
                writer
                    .raw_copy_file_rename(file, &new_name)
                    .map_err(self.zip_err())?;
            }
        }
        let mut buffered = writer.finish().map_err(self.zip_err())?;
        buffered.flush().map_err(self.write_err())?;
        let file = buffered
            .into_inner()
            .map_err(|e| self.write_err()(e.into_error()))?;
        file.sync_all().map_err(self.write_err())
    }

    /// METADATA (`file`, at `metadata_path`) with the new version.
    fn metadata(&self, file: impl Read, metadata_path: &str) -> Result<Vec<u8>, WheelError> {
        let mut text = Vec::new();
        file.take(MAX_METADATA + 1)
            .read_to_end(&mut text)
            .map_err(|source| WheelError::Io {
                path: self.path.to_path_buf(),
                source,
            })?;
        if text.len() as u64 > MAX_METADATA {
            return Err(layout(
                self.path,
                format!("`{metadata_path}` is over 16 MiB"),
            ));
        }
        set_version(&text, self.old_version, self.new_version)
            .map_err(|detail| layout(self.path, detail))
    }

    fn zip_err(&self) -> impl Fn(zip::result::ZipError) -> WheelError + '_ {
        |e| WheelError::Zip {
            path: self.path.to_path_buf(),
            detail: e.to_string(),
        }
    }

    fn write_err(&self) -> impl Fn(std::io::Error) -> WheelError + '_ {
        |source| WheelError::Io {
            path: self.tmp.to_path_buf(),
            source,
        }
    }
}

/// METADATA with its `Version:` header set to `new`; the header must be there and say `old`.
fn set_version(text: &[u8], old: &str, new: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + new.len());
    let mut found = false;
    let mut in_headers = true;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            // The body (the long description) follows the first blank line.
            in_headers = false;
        }
        if in_headers
            && !found
            && let Some(value) = content
                .get(..8)
                .filter(|h| h.eq_ignore_ascii_case(b"version:"))
                .map(|_| &content[8..])
        {
            let value = String::from_utf8_lossy(value);
            let value = value.trim();
            if !same_version(value, old) {
                return Err(format!(
                    "METADATA gives version `{}`, the file name `{}`",
                    escaped(value),
                    escaped(old)
                ));
            }
            out.extend_from_slice(b"Version: ");
            out.extend_from_slice(new.as_bytes());
            out.extend_from_slice(&line[content.len()..]);
            found = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    if !found {
        return Err("METADATA has no `Version:` header".into());
    }
    Ok(out)
}

/// The file name writes a version with `-` as `_`; otherwise the two are written alike.
fn same_version(metadata: &str, file_name: &str) -> bool {
    metadata.replace('-', "_").eq_ignore_ascii_case(file_name)
}

/// RECORD for the relabelled wheel: every row renamed, rewritten files with their new hash
/// and size, the declared `variant.json` listed before RECORD itself.
fn new_record(
    rows: &[RecordRow],
    renamed: &dyn Fn(&str) -> String,
    rewritten: &[(String, String, u64)],
    variant_path: &str,
    variant: Option<(&str, &[u8])>,
) -> Result<Vec<u8>, String> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut write = |path: &str, hash: String, size: String| {
        writer
            .write_record([path, &hash, &size])
            .map_err(|e| e.to_string())
    };
    let mut self_row = None;
    for row in rows {
        if row.path == variant_path {
            continue;
        }
        if row.hash.is_none() && row.path.ends_with(".dist-info/RECORD") {
            self_row = Some(row);
            continue;
        }
        let (hash, size) = match rewritten.iter().find(|(p, ..)| *p == row.path) {
            Some((_, hash, size)) => (format!("sha256={hash}"), size.to_string()),
            None => (
                row.hash
                    .as_ref()
                    .map(|(a, d)| format!("{a}={d}"))
                    .unwrap_or_default(),
                row.size.map(|s| s.to_string()).unwrap_or_default(),
            ),
        };
        write(&renamed(&row.path), hash, size)?;
    }
    if let Some((_, json)) = variant {
        write(
            &renamed(variant_path),
            format!("sha256={}", b64_sha256(json)),
            json.len().to_string(),
        )?;
    }
    if let Some(row) = self_row {
        write(&renamed(&row.path), String::new(), String::new())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

fn b64_sha256(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests;
