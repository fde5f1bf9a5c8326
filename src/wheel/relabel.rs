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

use super::archive::{ZipEntry, open};
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
    let mut name = WheelName::parse(file_name)?;
    let layout = |detail: String| WheelError::Layout {
        path: path.to_path_buf(),
        detail,
    };
    let old_version = name.version.clone();
    if let Some(local) = spec.local_version {
        if old_version.contains('+') {
            return Err(layout(format!(
                "version `{}` already has a local version label, so `+{local}` cannot be added",
                escaped(&old_version)
            )));
        }
        name.version = format!("{old_version}+{local}");
    }
    if let Some((label, _)) = spec.variant {
        if let Some(old) = &name.variant {
            return Err(layout(format!(
                "it is already a variant wheel (label `{}`)",
                escaped(old)
            )));
        }
        name.variant = Some(label.to_string());
    }
    let new_path = path.with_file_name(name.to_string());
    if new_path == path {
        return Ok(new_path);
    }

    let mut opened = open(path)?;
    let zip_err = |e: zip::result::ZipError| WheelError::Zip {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    // `check_wheel` found exactly one `{dist}-{version}.dist-info`; its `{dist}` is kept as
    // the build wrote it.
    let dist_info = opened
        .entries
        .iter()
        .filter_map(|e| e.name.split('/').next())
        .find(|top| top.ends_with(".dist-info"))
        .map(str::to_string)
        .ok_or_else(|| layout("no top-level `.dist-info` directory".into()))?;
    let stem = dist_info.trim_end_matches(".dist-info");
    let dist = stem
        .rsplit_once('-')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    let renames = [
        (
            format!("{stem}.dist-info/"),
            format!("{dist}-{}.dist-info/", name.version),
        ),
        (
            format!("{stem}.data/"),
            format!("{dist}-{}.data/", name.version),
        ),
    ];
    let renamed = |entry: &str| -> String {
        for (from, to) in &renames {
            if let Some(rest) = entry.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        entry.to_string()
    };
    let metadata_path = format!("{dist_info}/METADATA");
    let record_path = format!("{dist_info}/RECORD");
    let variant_path = format!("{dist_info}/{VARIANT_FILE}");

    let tmp = path.with_file_name(format!(".{}.relabel", name));
    let out = std::fs::File::create(&tmp).map_err(|source| WheelError::Io {
        path: tmp.clone(),
        source,
    })?;
    let result = (|| -> Result<(), WheelError> {
        let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(out));
        // New hashes and sizes for RECORD, by the entry's old path.
        let mut rewritten: Vec<(String, String, u64)> = Vec::new();
        let entries: Vec<ZipEntry> = std::mem::take(&mut opened.entries);
        for entry in &entries {
            let new_name = renamed(&entry.name);
            if entry.name == variant_path {
                // A build's own `variant.json` is replaced by the declared one.
                continue;
            }
            if entry.name == metadata_path {
                let file = opened.zip.by_index(entry.index).map_err(zip_err)?;
                let options = file.options();
                let mut text = Vec::new();
                file.take(MAX_METADATA + 1)
                    .read_to_end(&mut text)
                    .map_err(|source| WheelError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                if text.len() as u64 > MAX_METADATA {
                    return Err(layout(format!("`{metadata_path}` is over 16 MiB")));
                }
                let text = set_version(&text, &old_version, &name.version).map_err(&layout)?;
                writer.start_file(&new_name, options).map_err(zip_err)?;
                writer.write_all(&text).map_err(|source| WheelError::Io {
                    path: tmp.clone(),
                    source,
                })?;
                rewritten.push((entry.name.clone(), b64_sha256(&text), text.len() as u64));
                continue;
            }
            if entry.name == record_path {
                let options = opened.zip.by_index(entry.index).map_err(zip_err)?.options();
                if let Some((_, json)) = spec.variant {
                    writer
                        .start_file(renamed(&variant_path), options)
                        .map_err(zip_err)?;
                    writer.write_all(json).map_err(|source| WheelError::Io {
                        path: tmp.clone(),
                        source,
                    })?;
                }
                let rows = record::parse(&record::read(path, &mut opened.zip, entry.index)?)
                    .map_err(|e| WheelError::Record {
                        path: path.to_path_buf(),
                        line: e.line,
                        detail: e.detail,
                    })?;
                let text = new_record(&rows, &renamed, &rewritten, &variant_path, spec.variant)
                    .map_err(&layout)?;
                writer.start_file(&new_name, options).map_err(zip_err)?;
                writer.write_all(&text).map_err(|source| WheelError::Io {
                    path: tmp.clone(),
                    source,
                })?;
                continue;
            }
            let file = opened.zip.by_index_raw(entry.index).map_err(zip_err)?;
            if new_name == entry.name {
                writer.raw_copy_file(file).map_err(zip_err)?;
            } else {
                writer
                    .raw_copy_file_rename(file, &new_name)
                    .map_err(zip_err)?;
            }
        }
        let mut buffered = writer.finish().map_err(zip_err)?;
        buffered.flush().map_err(|source| WheelError::Io {
            path: tmp.clone(),
            source,
        })?;
        let file = buffered.into_inner().map_err(|e| WheelError::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| WheelError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(())
    })();
    if let Err(e) = result {
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
