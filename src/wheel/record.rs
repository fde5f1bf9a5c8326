//! RECORD, the wheel's list of its files with their hashes and sizes: reading it from the
//! zip, parsing it, and the hash algorithms it may name.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read, Seek};
use std::path::Path;

use sha2::{Digest, Sha256, Sha384, Sha512};

use super::archive::unsafe_path;
use super::{WheelError, escaped};

/// A RECORD larger than this is not a RECORD but an attempt to exhaust memory.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// One row of RECORD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// 1-based line of RECORD on which the row starts.
    pub line: usize,
    /// The file's path inside the wheel, a plain relative path.
    pub path: String,
    /// `(algorithm, urlsafe-base64 digest)`, the digest without `=` padding; `None` where the
    /// hash field is empty, as it is for RECORD itself.
    pub hash: Option<(String, String)>,
    pub size: Option<u64>,
}

/// Why RECORD could not be parsed, at the line of the row that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RECORD line {line}: {detail}")]
pub struct RecordError {
    pub line: usize,
    pub detail: String,
}

/// Parse RECORD as Python's `csv` module reads it, since installers read it that way: rows of
/// `path,hash,size`, blank lines skipped. Refuses rows that are not UTF-8 or not three fields,
/// unsafe or repeated paths, hashes that are not `algorithm=digest`, and sizes that are not
/// numbers. Whether a row may lack a hash depends on the wheel, so that is the caller's check.
///
/// Takes untrusted bytes: never panics, and runs in time linear in their length.
pub fn parse(bytes: &[u8]) -> Result<Vec<RecordRow>, RecordError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut lines = Lines {
        text: bytes,
        offset: 0,
        line: 1,
    };
    let mut record = csv::ByteRecord::new();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let line = lines.row_from(reader.position().byte() as usize);
        let err = |detail: String| RecordError { line, detail };
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(rows),
            Err(e) => return Err(err(e.to_string())),
        }
        let fields = record
            .iter()
            .map(std::str::from_utf8)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| err("not UTF-8".into()))?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(err(format!(
                "expected 3 fields (path, hash, size), found {}",
                fields.len()
            )));
        };
        if let Some(reason) = unsafe_path(path) {
            return Err(err(format!("path `{}` {reason}", escaped(path))));
        }
        let hash = if hash.is_empty() {
            None
        } else {
            let Some((algorithm, digest)) = hash.split_once('=') else {
                return Err(err(format!(
                    "hash `{}` is not `algorithm=digest`",
                    escaped(hash)
                )));
            };
            // Python's writers strip the padding; tolerate it the way pip does.
            Some((
                algorithm.to_string(),
                digest.trim_end_matches('=').to_string(),
            ))
        };
        let size = if size.is_empty() {
            None
        } else if size.bytes().all(|b| b.is_ascii_digit()) {
            Some(
                size.parse()
                    .map_err(|_| err(format!("size `{}` is out of range", escaped(size))))?,
            )
        } else {
            return Err(err(format!("size `{}` is not a number", escaped(size))));
        };
        if !seen.insert(path.to_string()) {
            return Err(err(format!("lists `{}` twice", escaped(path))));
        }
        rows.push(RecordRow {
            line,
            path: path.to_string(),
            hash,
            size,
        });
    }
}

/// Line numbers of rows, counted as the reader moves forward so that many rows cost linear
/// time. The csv reader's own line numbers miscount blank lines and CRLF line ends.
struct Lines<'a> {
    text: &'a [u8],
    /// Counted up to here; `line` is the line at this offset.
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    /// The line of a row read from `offset`: that of its first byte that is not a line end
    /// (`\n`, `\r\n` or a lone `\r`, as Python's `csv` ends lines).
    fn row_from(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let rest = &self.text[offset..];
        let start = offset
            + rest
                .iter()
                .position(|b| !matches!(b, b'\r' | b'\n'))
                .unwrap_or(rest.len());
        for i in self.offset..start {
            match self.text[i] {
                b'\n' => self.line += 1,
                b'\r' if self.text.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.offset = self.offset.max(start);
        self.line
    }
}

/// RECORD's bytes, refused when larger than [`MAX_RECORD_BYTES`].
pub(super) fn read<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    index: usize,
) -> Result<Vec<u8>, WheelError> {
    let zip_err = |e: &dyn fmt::Display| WheelError::Zip {
        path: path.to_path_buf(),
        detail: format!("RECORD: {e}"),
    };
    let entry = zip.by_index(index).map_err(|e| zip_err(&e))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| zip_err(&e))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(WheelError::Layout {
            path: path.to_path_buf(),
            detail: "RECORD is larger than 64 MiB".into(),
        });
    }
    Ok(bytes)
}

/// The hash algorithms RECORD may use (PEP 427: sha256 or stronger).
pub(super) enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub(super) fn new(algorithm: &str) -> Option<Hasher> {
        match algorithm {
            "sha256" => Some(Hasher::Sha256(Sha256::new())),
            "sha384" => Some(Hasher::Sha384(Sha384::new())),
            "sha512" => Some(Hasher::Sha512(Sha512::new())),
            _ => None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Digest and length of everything `reader` yields, in constant memory.
pub(super) fn hash_stream(
    reader: &mut impl Read,
    mut hasher: Hasher,
) -> io::Result<(Vec<u8>, u64)> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: usize, path: &str, hash: Option<(&str, &str)>, size: Option<u64>) -> RecordRow {
        RecordRow {
            line,
            path: path.into(),
            hash: hash.map(|(a, d)| (a.into(), d.into())),
            size,
        }
    }

    #[test]
    fn parses_what_python_writes() {
        // A quoted path with a comma and doubled quotes, CRLF line ends, blank lines, a padded
        // digest, and a row without a hash or size.
        let text = b"a.py,sha256=AAA,3\r\n\r\n\"b,\"\"c\"\".py\",sha512=BBB==,\r\n\n\
                     d/RECORD,,\r\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                row(1, "a.py", Some(("sha256", "AAA")), Some(3)),
                row(3, "b,\"c\".py", Some(("sha512", "BBB")), None),
                row(5, "d/RECORD", None, None),
            ]
        );
    }

    #[test]
    fn numbers_lines_as_an_editor_would() {
        for (text, line) in [
            (&b"a,,\r\n\"b\nc\",,\n"[..], 2),
            // A lone `\r` ends a line too; blank lines count.
            (b"a,,\rb,,\r\n\n..,,\n", 4),
            // A quoted field over two lines: its row starts on the first, the next row after
            // the second.
            (b"\"a\nb\",,\n", 1),
            (b"a,\"sha256=x\ny\",1\n..,,\n", 3),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
        }
    }

    #[test]
    fn refuses_malformed_rows_naming_their_line() {
        for (text, line, want) in [
            (&b"a,sha256=x,1\nb,sha256\n"[..], 2, "expected 3 fields"),
            (b"a,sha256=x,1,extra\n", 1, "found 4"),
            (b"a,abc,1\n", 1, "algorithm=digest"),
            (b"a,sha256=x,one\n", 1, "not a number"),
            (b"a,sha256=x,-1\n", 1, "not a number"),
            (b"a,sha256=x,99999999999999999999\n", 1, "out of range"),
            (b"a,sha256=x,1\n\nb,,\na,sha256=y,2\n", 4, "lists `a` twice"),
            (b"../../etc/x,sha256=x,1\n", 1, "`..`"),
            (b"/etc/x,sha256=x,1\n", 1, "absolute"),
            (b"a,,\n\xff\xfe,sha256=x,1\n", 2, "not UTF-8"),
            (b"a,sha256=\xff,1\n", 1, "not UTF-8"),
        ] {
            match parse(text) {
                Err(e) => {
                    assert_eq!(e.line, line, "{text:?}: {e}");
                    assert!(e.detail.contains(want), "{text:?}: {e} lacks {want:?}");
                    assert!(e.to_string().starts_with(&format!("RECORD line {line}: ")));
                }
                Ok(rows) => panic!("{text:?}: expected an error, got {rows:?}"),
            }
        }
    }

    #[test]
    fn reads_stray_quotes_as_python_does() {
        // Text after a closing quote joins the field, and a quote that is never closed runs
        // to the end: neither is an error to Python's `csv`, so neither is one here. The
        // wheel check still refuses such a RECORD, since its paths match no file.
        assert_eq!(
            parse(b"\"a\"x,sha256=y,1\nb\"c,,\n").unwrap(),
            [
                row(1, "ax", Some(("sha256", "y")), Some(1)),
                row(2, "b\"c", None, None)
            ]
        );
        let err = parse(b"\"a,sha256=y,1\nb,,\n").unwrap_err();
        assert!(err.detail.contains("found 1"), "{err}");
    }

    #[test]
    fn odd_inputs_return() {
        assert_eq!(parse(b"").unwrap(), []);
        assert_eq!(parse(b"\n\r\n\r\r\n").unwrap(), []);
        for text in [
            &b"\0"[..],
            b"\"",
            b"\"\"\"",
            b",,,,,,,,,,,,,,,,",
            b"\xff",
            b"a\0b,,\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        // Many rows and one huge field, both in linear time.
        let many: String = (0..200_000)
            .map(|i| format!("f{i},sha256=x,{i}\n"))
            .collect();
        let rows = parse(many.as_bytes()).unwrap();
        assert_eq!(rows.len(), 200_000);
        assert_eq!(rows[199_999].line, 200_000);
        let huge = format!("{},sha256=x,1\n", "a".repeat(16 << 20));
        assert_eq!(parse(huge.as_bytes()).unwrap()[0].path.len(), 16 << 20);
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_bytes_returns(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        /// Text made of RECORD's own punctuation, where quoting mistakes hide.
        #[test]
        fn parsing_punctuation_returns(text in "[a\",=\r\n1/.]{0,200}") {
            if let Ok(rows) = parse(text.as_bytes()) {
                proptest::prop_assert!(rows.windows(2).all(|w| w[0].line < w[1].line));
            }
        }
    }
}
