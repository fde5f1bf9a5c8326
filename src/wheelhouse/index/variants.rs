//! PEP 825 variant wheels in the index: each release's `-variants.json`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{File, LeftOut, WhyLeftOut};
use crate::wheel::variant::{VariantsJson, read_from_wheel};

/// PEP 825: beside a release's variant wheels, `{name}-{version}-variants.json` merges
/// their `variant.json` files (as `variantlib generate-index-json` does). A wheel whose
/// file cannot be read or merged is taken out of `files`. Returns each file's listing
/// (in the project's own directory) and bytes.
pub(super) fn variants_files(
    out: &Path,
    files: &mut Vec<File>,
    left_out: &mut Vec<LeftOut>,
) -> Vec<(File, Vec<u8>)> {
    let mut merged: BTreeMap<String, (String, VariantsJson)> = BTreeMap::new();
    files.retain(|f| {
        let Some((namever, label)) = &f.variant else {
            return true;
        };
        let path = out.join(&f.subdir).join(&f.filename);
        let result = read_from_wheel(&path).and_then(|json| {
            json.only(label)?;
            match merged.get_mut(namever) {
                Some((_, all)) => all.merge(&json),
                None => {
                    merged.insert(namever.clone(), (f.version.clone(), json));
                    Ok(())
                }
            }
        });
        match result {
            Ok(()) => true,
            Err(detail) => {
                left_out.push(LeftOut {
                    wheel: path,
                    reason: WhyLeftOut::Variant(detail),
                });
                false
            }
        }
    });
    merged
        .into_iter()
        .map(|(namever, (version, json))| {
            let bytes = json.to_bytes();
            let file = File {
                // The project's page directory: a link without `../`.
                subdir: String::new(),
                filename: format!("{namever}-variants.json"),
                version,
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                size: bytes.len() as u64,
                variant: None,
            };
            (file, bytes)
        })
        .collect()
}
