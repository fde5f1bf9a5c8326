//! `index`: which wheels each key's record names, one line per commit, so that the
//! presence of every key of a plan is known from one read instead of one per record.
//!
//! ```text
//! + <key> <sha256> <sha256>… ;    committed, with these wheels
//! - <key> ;                       quarantined
//! ```
//!
//! Lines are appended under the store lock, each after a newline of its own and ending in
//! ` ;`, so that an append cut short (a crash) is a line without its end, skipped, and
//! never runs into the next one. The last line of a key wins. It is a cache of the
//! records: a key with a record but no line is looked up in its record.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use super::presence::{Digest, parse_hex};

const NAME: &str = "index";

/// Append `key`'s wheels (`None`: the key left the store).
pub(super) fn append(
    root: &Path,
    key: &crate::key::BuildKey,
    wheels: Option<&[&str]>,
) -> std::io::Result<()> {
    let line = match wheels {
        Some(w) => format!(
            "\n+ {key}{}{} ;\n",
            if w.is_empty() { "" } else { " " },
            w.join(" ")
        ),
        None => format!("\n- {key} ;\n"),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(NAME))?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// Replace the index with one line per key in `keys` (with its wheels' digests), atomically:
/// `gc` compacts it to what remains.
pub(super) fn rewrite(root: &Path, keys: &BTreeMap<String, Vec<String>>) -> std::io::Result<()> {
    let mut text = String::new();
    for (key, wheels) in keys {
        text.push_str(&format!("\n+ {key}"));
        for w in wheels {
            text.push(' ');
            text.push_str(w);
        }
        text.push_str(" ;\n");
    }
    crate::fsutil::write_atomic(&root.join(NAME), text.as_bytes())
}

/// Every key the index lists as in the store, with its wheels' digests.
pub(super) fn read(root: &Path) -> std::io::Result<BTreeMap<Digest, Vec<Digest>>> {
    let text = match std::fs::read(root.join(NAME)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut keys = BTreeMap::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(line) = line.strip_suffix(b" ;") else {
            continue;
        };
        let mut words = line.split(|&b| b == b' ');
        let (Some(op), Some(key)) = (words.next(), words.next().and_then(parse_hex)) else {
            continue;
        };
        match op {
            b"+" => {
                let digests: Option<Vec<Digest>> = words.map(parse_hex).collect();
                if let Some(digests) = digests {
                    keys.insert(key, digests);
                }
            }
            b"-" => {
                keys.remove(&key);
            }
            _ => {}
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::BuildKey;

    #[test]
    fn the_last_line_of_a_key_wins_and_cut_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (BuildKey("a".repeat(64)), BuildKey("b".repeat(64)));
        let w = "c".repeat(64);
        append(dir.path(), &a, Some(&[w.as_str()])).unwrap();
        append(dir.path(), &b, Some(&[])).unwrap();
        append(dir.path(), &a, None).unwrap();
        // An append cut short by a crash.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(NAME))
            .unwrap();
        f.write_all(format!("+ {} {}", "d".repeat(64), &w[..10]).as_bytes())
            .unwrap();
        let hex = |s: &str| parse_hex(s.as_bytes()).unwrap();
        let keys = read(dir.path()).unwrap();
        assert_eq!(keys, BTreeMap::from([(hex(&b.0), vec![])]));
        append(dir.path(), &a, Some(&[w.as_str()])).unwrap();
        assert_eq!(
            read(dir.path()).unwrap().get(&hex(&a.0)),
            Some(&vec![hex(&w)])
        );
    }
}
