//! Zip, wheel and ELF files for the tests of `archive`, `diff` and `elf`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

pub(super) type Files = Vec<(String, Vec<u8>)>;

pub(super) fn files(list: &[(&str, &[u8])]) -> Files {
    list.iter()
        .map(|(n, c)| (n.to_string(), c.to_vec()))
        .collect()
}

/// The content files of a sound `demo-1.0` wheel (RECORD is added by [`write_wheel`]).
pub(super) fn demo() -> Files {
    files(&[
        ("demo/__init__.py", b"print('hello')\n"),
        ("demo/core.py", b"X = 1\n"),
        (
            "demo-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        ),
        (
            "demo-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ])
}

pub(super) fn b64_sha256(content: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(content))
}

pub(super) fn record_of(files: &Files, dist_info: &str) -> String {
    let mut record: String = files
        .iter()
        .map(|(n, c)| format!("{n},sha256={},{}\n", b64_sha256(c), c.len()))
        .collect();
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    record
}

pub(super) fn options(minute: u8) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::from_date_and_time(2024, 1, 2, 3, minute, 0).unwrap())
}

pub(super) fn write_zip(path: &Path, entries: &Files, options: SimpleFileOptions) {
    let mut zip = ZipWriter::new(File::create(path).unwrap());
    for (name, content) in entries {
        if let Some(dir) = name.strip_suffix('/') {
            zip.add_directory(dir, options).unwrap();
        } else {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(content).unwrap();
        }
    }
    zip.finish().unwrap();
}

/// `files` plus a RECORD (the right one unless `record` is given), as `dir/file_name`.
pub(super) fn write_wheel(
    dir: &Path,
    file_name: &str,
    mut files: Files,
    record: Option<String>,
) -> PathBuf {
    let dist_info = files
        .iter()
        .filter_map(|(n, _)| n.split('/').next())
        .find(|d| d.ends_with(".dist-info"))
        .unwrap_or("demo-1.0.dist-info")
        .to_string();
    let record = record.unwrap_or_else(|| record_of(&files, &dist_info));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    let path = dir.join(file_name);
    write_zip(&path, &files, options(4));
    path
}

pub(super) const DEMO: &str = "demo-1.0-py3-none-any.whl";

/// Compile `source` to an object file with the C compiler that links Rust's tests.
pub(super) fn compile(dir: &Path, name: &str, source: &str) -> Vec<u8> {
    let dir = dir.join(name);
    std::fs::create_dir(&dir).unwrap();
    // The same source file name in both builds, as it is recorded in the symbol table.
    std::fs::write(dir.join("lib.c"), source).unwrap();
    let status = Command::new("cc")
        .current_dir(&dir)
        .args(["-c", "-O0", "-o", "lib.o", "lib.c"])
        .status()
        .expect("running cc");
    assert!(status.success(), "cc failed: {status}");
    std::fs::read(dir.join("lib.o")).unwrap()
}

/// A shared library built by the machine's C compiler from `source`, linking `libs`
/// (stub libraries of those SONAMEs built alongside, as a real runtime would be).
pub(super) fn shared_library(dir: &Path, source: &str, sonames: &[&str]) -> Vec<u8> {
    let mut args: Vec<String> = vec!["-shared".into(), "-fPIC".into(), "-o".into()];
    args.push("ext.so".into());
    args.push("ext.c".into());
    std::fs::write(dir.join("ext.c"), source).unwrap();
    for soname in sonames {
        std::fs::write(dir.join("stub.c"), "int stub(void) { return 0; }\n").unwrap();
        let status = Command::new("cc")
            .current_dir(dir)
            .args(["-shared", "-fPIC", "-o", soname, "stub.c"])
            .arg(format!("-Wl,-soname,{soname}"))
            .status()
            .expect("running cc");
        assert!(status.success());
        args.push(format!("./{soname}"));
    }
    let status = Command::new("cc")
        .current_dir(dir)
        .args(&args)
        .status()
        .expect("running cc");
    assert!(status.success(), "cc failed: {status}");
    std::fs::read(dir.join("ext.so")).unwrap()
}
