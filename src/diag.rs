//! Source locations, "did you mean" hints and one-line error chains for user-facing
//! errors.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in a text file, 1-based, as editors show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    /// The whole source line, for a caret snippet.
    pub line_text: String,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
}

impl Location {
    /// Hide `secret` in the quoted line (same width, so the caret still points right).
    pub(crate) fn redact(&mut self, secret: &str) {
        if !secret.is_empty() {
            let stars = "*".repeat(secret.chars().count());
            self.line_text = self.line_text.replace(secret, &stars);
        }
    }

    /// Map a byte span of `src` to line and column. Columns count characters, not bytes.
    /// Scans `src`: for many spans of one text, use a [`LineIndex`].
    pub(crate) fn from_span(path: &Path, src: &str, span: Range<usize>) -> Self {
        LineIndex::new(src).locate(path, src, span)
    }
}

/// Where each line of a text starts, so that a span's line is a binary search rather than
/// a scan from the top (a config of 1000 projects records a location for each of them).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(src: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// [`Location::from_span`] for the text this index was made from.
    pub(crate) fn locate(&self, path: &Path, src: &str, span: Range<usize>) -> Location {
        let start = span.start.min(src.len());
        // The last line start at or before `start`; `starts[0]` is 0, so there is one.
        let line = self.starts.partition_point(|&s| s <= start);
        let line_start = self.starts[line - 1];
        let line_end = self.starts.get(line).map_or(src.len(), |&next| next - 1);
        let col = src[line_start..start].chars().count() + 1;
        let line_text = src[line_start..line_end].trim_end_matches('\r').to_string();
        let end = span.end.clamp(start, line_end);
        let width = src[start..end].chars().count().max(1);
        Location {
            path: path.to_path_buf(),
            line,
            col,
            line_text,
            width,
        }
    }
}

impl Location {
    /// Where `bytes` stop being UTF-8: the line and column of the first bad byte, with the
    /// line shown lossily.
    pub(crate) fn of_invalid_utf8(path: &Path, bytes: &[u8], e: &std::str::Utf8Error) -> Self {
        let good = e.valid_up_to();
        let prefix = std::str::from_utf8(&bytes[..good]).expect("valid up to here");
        let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
        let line_end = bytes[good..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| good + i);
        Location {
            path: path.to_path_buf(),
            line: prefix.matches('\n').count() + 1,
            col: prefix[line_start..].chars().count() + 1,
            line_text: String::from_utf8_lossy(&bytes[line_start..line_end])
                .trim_end_matches('\r')
                .to_string(),
            width: 1,
        }
    }

    /// A rustc-style snippet: the line with a caret under the span. Long lines are cut
    /// around the span (a 64 KiB line must not fill the terminal).
    pub fn snippet(&self) -> String {
        const CONTEXT: usize = 60;
        const MAX_CARETS: usize = 40;
        let chars: Vec<char> = self.line_text.chars().collect();
        // 1-based; one past the last character points at the end of the line.
        let col = self.col.clamp(1, chars.len() + 1);
        let mut width = self.width.max(1);
        let (text, caret_col) = if chars.len() > 2 * CONTEXT + MAX_CARETS {
            width = width.min(MAX_CARETS);
            let start = (col - 1).saturating_sub(CONTEXT);
            let end = (col - 1 + width + CONTEXT).min(chars.len());
            let mut text: String = chars[start..end].iter().collect();
            let mut caret_col = col - start;
            if start > 0 {
                text.insert(0, '…');
                caret_col += 1;
            }
            if end < chars.len() {
                text.push('…');
            }
            (text, caret_col)
        } else {
            (self.line_text.clone(), col)
        };
        let room = text.chars().count().saturating_sub(caret_col - 1);
        let width = width.min(room).max(1);
        let gutter = " ".repeat(self.line.to_string().len());
        format!(
            "{gutter} |\n{line} | {text}\n{gutter} | {pad}{carets}",
            line = self.line,
            pad = " ".repeat(caret_col - 1),
            carets = "^".repeat(width),
        )
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.col)
    }
}

/// The closest candidate to `input`, if one is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Quote a list of names for a message: `a`, `b`, `c`.
pub(crate) fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error and its sources on one line: the top of a client's error is often only
/// "error sending request" or "client error (Connect)", the cause is below it.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut detail = e.to_string();
    let mut cur = e.source();
    while let Some(source) = cur {
        let text = source.to_string();
        // Wrappers that repeat their source's message add nothing.
        if !detail.ends_with(&text) {
            detail = format!("{detail}: {text}");
        }
        cur = source.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_chars() {
        let src = "a = 1\nbé = \"x\"\n";
        let span = src.find('"').unwrap()..src.len() - 1;
        let loc = Location::from_span(Path::new("w.toml"), src, span);
        assert_eq!((loc.line, loc.col), (2, 6));
        assert_eq!(loc.line_text, "bé = \"x\"");
        assert_eq!(loc.width, 3);
        assert_eq!(loc.to_string(), "w.toml:2:6");
        assert!(loc.snippet().ends_with("|      ^^^"), "{}", loc.snippet());
    }

    #[test]
    fn line_index_agrees_with_a_scan_at_every_offset() {
        let src = "a = 1\r\n\nbé = \"x\"\n[t]\nk = 'v'";
        let index = LineIndex::new(src);
        for start in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            let loc = index.locate(Path::new("w.toml"), src, start..start);
            let before = &src[..start];
            assert_eq!(loc.line, before.matches('\n').count() + 1, "at {start}");
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            assert_eq!(
                loc.col,
                src[line_start..start].chars().count() + 1,
                "at {start}"
            );
            assert!(!loc.line_text.contains('\n'), "at {start}");
        }
    }

    #[test]
    fn location_handles_crlf_and_end_of_file() {
        let src = "a = 1\r\nb = 2";
        let loc = Location::from_span(Path::new("w.toml"), src, src.len()..src.len());
        assert_eq!((loc.line, loc.col), (2, 6));
        assert_eq!(loc.line_text, "b = 2");
        let loc = Location::from_span(Path::new("w.toml"), src, 0..5);
        assert_eq!(loc.line_text, "a = 1");
    }

    #[test]
    fn invalid_utf8_is_located() {
        // Through `black_box`: rustc rejects a literal it can see is not UTF-8.
        let bytes: &[u8] = std::hint::black_box(b"a = 1\nb = \"x\xff\"\n");
        let e = std::str::from_utf8(bytes).unwrap_err();
        let loc = Location::of_invalid_utf8(Path::new("w.toml"), bytes, &e);
        assert_eq!((loc.line, loc.col), (2, 7));
        assert_eq!(loc.line_text, "b = \"x\u{fffd}\"");
    }

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let src = format!("name = \"{}\"", "x".repeat(70_000));
        let loc = Location::from_span(Path::new("w.toml"), &src, 7..src.len());
        let snippet = loc.snippet();
        assert!(snippet.len() < 400, "{}", snippet.len());
        assert!(snippet.contains("name = \"xxx"), "{snippet}");
    }

    proptest::proptest! {
        /// Found by fuzzing: a cut line still longer than the limit recursed forever.
        #[test]
        fn snippets_of_any_line_end_and_stay_short(
            text in "[a-zé\"= ]{0,400}",
            col in 0usize..420,
            width in 0usize..500,
        ) {
            let loc = Location {
                path: PathBuf::from("w.toml"),
                line: 7,
                col,
                line_text: text,
                width,
            };
            let snippet = loc.snippet();
            proptest::prop_assert!(snippet.contains("7 | "));
            for line in snippet.lines() {
                // The gutter, the cut text (or a line short enough to show whole) and `…`s.
                proptest::prop_assert!(line.chars().count() <= 4 + 2 * 60 + 40 + 2, "{}", snippet);
            }
        }
    }

    #[test]
    fn suggestions_only_for_close_names() {
        assert_eq!(did_you_mean("reff", ["ref", "git", "name"]), Some("ref"));
        assert_eq!(did_you_mean("pyhton", ["python", "cuda"]), Some("python"));
        assert_eq!(did_you_mean("zzz", ["ref", "git"]), None);
    }
}
