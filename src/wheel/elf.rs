//! Which sections of an ELF file (a compiled extension or shared library) differ between two
//! builds, so that `wheelbuild verify` can say more than "the `.so` changed".

use std::collections::{BTreeMap, BTreeSet};

use object::{Object, ObjectSection};

use super::escaped;

/// Every ELF file starts with these bytes.
pub(super) const MAGIC: &[u8] = b"\x7fELF";

/// The content of a zip entry if it is an ELF file of at most `max` bytes: the magic is
/// read first, so that other files are not read in full.
pub(super) fn read_if_elf(
    content: impl std::io::Read,
    max: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut content = content.take(max + 1);
    let mut bytes = Vec::new();
    (&mut content)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut bytes)?;
    if bytes != MAGIC {
        return Ok(None);
    }
    content.read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The `DT_NEEDED` entries of a 64-bit ELF file: the libraries the loader must find. Empty
/// for anything else (`object` refuses bad offsets rather than panicking).
pub(super) fn needed(bytes: &[u8]) -> Vec<String> {
    use object::read::elf::ElfFile64;
    let Ok(file) = ElfFile64::<object::Endianness>::parse(bytes) else {
        return Vec::new();
    };
    let Ok(table) = file.elf_section_table().dynamic_table(file.endian(), bytes) else {
        return Vec::new();
    };
    table
        .iter()
        .filter(|d| d.tag == object::elf::DT_NEEDED)
        .filter_map(|d| table.string(d).ok())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The sections whose size or data differ between ELF files `a` and `b`, by name, in name
/// order: `.name` in both but different, `-.name` only in `a`, `+.name` only in `b`. Empty
/// when only headers or padding differ; `None` when either is not a readable ELF file.
///
/// Sections are matched by name, since a section that moves keeps its name but not its index;
/// sections that share a name are compared in file order.
pub(super) fn section_diff(a: &[u8], b: &[u8]) -> Option<Vec<String>> {
    let (a, b) = (sections(a)?, sections(b)?);
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let differing = names
        .into_iter()
        .filter_map(|name| match (a.get(name), b.get(name)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(_), Some(_)) => Some(name.clone()),
            (Some(_), None) => Some(format!("-{name}")),
            (None, _) => Some(format!("+{name}")),
        });
    Some(differing.collect())
}

/// Section name → (size, data) of each section of that name, in file order.
type Sections<'a> = BTreeMap<String, Vec<(u64, &'a [u8])>>;

/// The sections of an ELF file. `object` refuses offsets outside the file rather than
/// panicking, so this is safe on untrusted bytes.
fn sections(bytes: &[u8]) -> Option<Sections<'_>> {
    if !bytes.starts_with(MAGIC) {
        return None;
    }
    let file = object::File::parse(bytes).ok()?;
    let mut out = Sections::new();
    for section in file.sections() {
        let name = escaped(&String::from_utf8_lossy(section.name_bytes().ok()?));
        out.entry(name)
            .or_default()
            .push((section.size(), section.data().ok()?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::fixtures::compile;

    const ALPHA: &str = "int alpha(void) { return 1; }\n";
    /// Another function name of the same length, and a section of its own.
    const BRAVO: &str = "int bravo(void) { return 1; }\n\
                         __attribute__((section(\".wb_extra\"))) int extra = 7;\n";

    #[test]
    fn names_the_sections_that_differ() {
        let tmp = tempfile::tempdir().unwrap();
        let alpha = compile(tmp.path(), "alpha", ALPHA);
        let bravo = compile(tmp.path(), "bravo", BRAVO);
        let again = compile(tmp.path(), "again", ALPHA);
        assert_eq!(section_diff(&alpha, &again).unwrap(), Vec::<String>::new());
        // The symbol table gains `extra`, the symbol-name table `extra` and `bravo` for
        // `alpha`, the section-name table `.wb_extra`; the code is the same.
        assert_eq!(
            section_diff(&alpha, &bravo).unwrap(),
            [".shstrtab", ".strtab", ".symtab", "+.wb_extra"]
        );
        assert_eq!(
            section_diff(&bravo, &alpha).unwrap(),
            [".shstrtab", ".strtab", ".symtab", "-.wb_extra"]
        );
    }

    #[test]
    fn only_elf_files_are_compared() {
        let tmp = tempfile::tempdir().unwrap();
        let alpha = compile(tmp.path(), "alpha", ALPHA);
        assert_eq!(section_diff(&alpha, b"print('hi')\n"), None);
        assert_eq!(section_diff(b"", &alpha), None);
        // The magic alone, or a header cut short or garbled, is no ELF file.
        assert_eq!(section_diff(MAGIC, &alpha), None);
        assert_eq!(section_diff(&alpha[..64], &alpha), None);
        let mut garbled = alpha.clone();
        garbled[40..48].fill(0xff); // e_shoff: the section headers, far past the end
        assert_eq!(section_diff(&garbled, &alpha), None);
    }
}
