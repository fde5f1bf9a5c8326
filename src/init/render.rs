//! The proposal (matrix, images, project) from what was detected, and the commented text
//! of `wheelbuild.toml` that says it. The default tables here are documented in
//! docs/configuration.md ("Starting a config: `init`"); keep the two in step.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};

use super::detect::Detected;
use crate::lock::quote;

/// CPython versions proposed, filtered by `requires-python` and cibuildwheel's selectors.
pub(crate) const PYTHONS: [&str; 5] = ["3.9", "3.10", "3.11", "3.12", "3.13"];
/// The accelerator variant proposed for CUDA code, and for HIP code.
const CUDA: &str = "cuda12.4";
const ROCM: &str = "rocm6.2";
/// The torch version proposed when the build needs torch without pinning it.
const TORCH: &str = "2.4.0";
/// GPU architectures for torch extensions: a build container has no GPU to detect them.
const TORCH_CUDA_ARCH_LIST: &str = "8.0;9.0";
const PYTORCH_ROCM_ARCH: &str = "gfx90a;gfx942";

/// What the user asked for, and where the project is.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// `--python`: these versions instead of the proposal.
    pub python: Vec<String>,
    /// `--cuda`: these accelerator variants instead of the proposal.
    pub cuda: Vec<String>,
    /// `--image`: one image template for every cell instead of the default table.
    pub image: Option<String>,
    /// The project's name when its files give none (the directory's or repository's).
    pub fallback_name: String,
    /// The project's `git` (a URL, or a path relative to the config).
    pub git: String,
    pub subdir: Option<String>,
    /// What was read, for the header: `../flash-attn`, `https://… at 0123abcd`.
    pub read_from: String,
    /// The local directory is not in a git repository (wheelbuild builds commits).
    pub not_a_repository: bool,
}

/// The image of a variant kind in the default table.
fn default_image(variant: &str, torch: bool) -> &'static str {
    match (variant, torch) {
        ("cpu", _) => "python:{python}-bookworm",
        (v, true) if v.starts_with("rocm") => {
            "rocm/pytorch:rocm{rocm}_ubuntu22.04_py{python}_pytorch_release_{torch}"
        }
        (v, false) if v.starts_with("rocm") => "rocm/dev-ubuntu-22.04:{rocm}-complete",
        (_, true) => "pytorch/pytorch:{torch}-cuda{cuda}-cudnn9-devel",
        (_, false) => "nvidia/cuda:{cuda}.1-devel-ubuntu22.04",
    }
}

/// The text of `wheelbuild.toml` for `found`, and the targets' count (cells).
pub(crate) fn render(found: &Detected, opts: &Options) -> (String, usize) {
    let cib = found.cibuildwheel.as_ref();
    let mut out = String::new();
    let name = project_name(found.name.as_deref().unwrap_or(&opts.fallback_name));
    let _ = writeln!(
        out,
        "# wheelbuild.toml for {name}, written by `wheelbuild init` from {}.\n\
         # A proposal to edit: `wheelbuild lock` pins it, `wheelbuild plan` lists its targets.\n#",
        opts.read_from
    );
    let mut found_lines = Vec::new();
    if let Some(backend) = &found.backend {
        found_lines.push(format!("build backend: {backend}"));
    }
    if !found.build_requires.is_empty() {
        found_lines.push(format!(
            "build requirements: {} (pinned by `lock`)",
            found.build_requires.join(", ")
        ));
    }
    if let Some(r) = &found.requires_python {
        found_lines.push(format!("requires-python: {r}"));
    }
    for (what, evidence) in [("CUDA", &found.cuda), ("HIP", &found.hip)] {
        if !evidence.is_empty() {
            found_lines.push(format!("{what}: {}", evidence.join("; ")));
        }
    }
    if let Some(t) = &found.torch {
        found_lines.push(format!("torch: {}", t.declared));
    }
    if cib.is_some() {
        found_lines.push("[tool.cibuildwheel]: carried over below".into());
    }
    if found_lines.is_empty() {
        found_lines.push("no pyproject.toml, setup.py or CMake build".into());
    }
    out.push_str("# Found:\n");
    for line in &found_lines {
        let _ = writeln!(out, "# - {line}");
    }
    if opts.not_a_repository {
        out.push_str("#\n");
        out.push_str(&wrap(
            "The directory is not in a git repository: wheelbuild builds commits, so `git \
             init` and commit it (or point `git` at its repository).",
            "# ",
            "# ",
        ));
    }
    if let Some(c) = cib.filter(|c| !c.unmapped.is_empty()) {
        out.push_str("#\n# Not carried over from [tool.cibuildwheel], with the wheelbuild way:\n");
        for u in &c.unmapped {
            let _ = writeln!(out, "# - {} = {}", u.key, quote(&u.value));
            out.push_str(&wrap(&u.how, "#   ", "#   "));
        }
    }

    // ---- matrix
    let (pythons, python_why) = pythons(found, opts);
    let (variants, variant_why) = variants(found, opts);
    let torch = found.torch.as_ref().map(|t| match &t.pinned {
        Some(v) => (v.clone(), "the build requirement's pin"),
        None => (
            TORCH.to_string(),
            "the build needs torch: pick the versions to build for",
        ),
    });
    out.push_str("\n[matrix]\n");
    out.push_str(&wrap(&python_why, "# ", "# "));
    let _ = writeln!(out, "python = {}", array(&pythons));
    match &variants {
        Some(v) => {
            let _ = writeln!(out, "# {variant_why}\ncuda = {}", array(v));
        }
        None => {
            let _ = writeln!(out, "# {variant_why}: only the `cpu` variant (the default)");
        }
    }
    if let Some((version, why)) = &torch {
        let _ = writeln!(out, "torch = [{}]   # {why}", quote(version));
    }

    // ---- image
    out.push_str("\n[image]\n");
    let variants_or_cpu = variants.clone().unwrap_or_else(|| vec!["cpu".into()]);
    // The template, then one `[[image.select]]` row per other variant whose image differs.
    let template = if let Some(template) = &opts.image {
        template.clone()
    } else if let Some(image) = cib.and_then(|c| c.image_x86_64.as_ref()) {
        out.push_str(
            "# cibuildwheel's manylinux-x86_64-image. The build runs `python3` of the image: in a\n\
             # manylinux image that is not the cell's Python, so check the `python` fact `lock`\n\
             # records (`wheelbuild audit`), or use images with one Python each.\n",
        );
        image.clone()
    } else {
        out.push_str(
            "# The default images (docs/configuration.md): edit them to your own. Each cell's image\n\
             # must have `python3` of the cell's Python, and the toolchain of its variant.\n",
        );
        default_image(&variants_or_cpu[0], torch.is_some()).to_string()
    };
    if !template.contains("{python}") && pythons.len() > 1 {
        out.push_str(
            "# This image has one Python: keep its version alone in `python`, or add a row per\n\
             # Python below.\n",
        );
    }
    let _ = writeln!(out, "template = {}", quote(&template));
    out.push_str("platform = \"linux/amd64\"\n");
    if opts.image.is_none() && cib.is_none_or(|c| c.image_x86_64.is_none()) {
        for v in &variants_or_cpu[1..] {
            let image = default_image(v, torch.is_some());
            if image != template {
                let _ = writeln!(
                    out,
                    "\n[[image.select]]\nwhen = {{ cuda = {} }}\nref = {}",
                    quote(v),
                    quote(image)
                );
            }
        }
    }
    if let Some(image) = cib.and_then(|c| c.image_aarch64.as_ref()) {
        let _ = writeln!(
            out,
            "\n# cibuildwheel's manylinux-aarch64-image: arm64 cells need an axis, e.g.\n\
             # `axes = {{ arch = [\"x86_64\", \"aarch64\"] }}` in [matrix], and this row:\n\
             # [[image.select]]\n# when = {{ arch = \"aarch64\" }}\n# ref = {}\n\
             # platform = \"linux/arm64\"",
            quote(image)
        );
    }

    // ---- project
    let _ = writeln!(
        out,
        "\n[[project]]\nname = {}\ngit = {}",
        quote(&name),
        quote(&opts.git)
    );
    out.push_str(
        "# ref = \"v1.0.0\"                 # a branch, tag or SHA; default: the default branch\n",
    );
    if let Some(subdir) = &opts.subdir {
        let _ = writeln!(out, "subdir = {}", quote(subdir));
    }
    if torch
        .as_ref()
        .is_some_and(|_| found.torch.as_ref().is_some_and(|t| t.pinned.is_none()))
    {
        out.push_str(
            "pip = [\"torch=={torch}\"]            # the matrix's torch, pinned by `lock`\n",
        );
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let gpu_code = found.torch.is_some() && variants.is_some();
    if gpu_code && variants_or_cpu.iter().any(|v| v.starts_with("cuda")) {
        env.insert("TORCH_CUDA_ARCH_LIST".into(), TORCH_CUDA_ARCH_LIST.into());
    }
    if gpu_code && variants_or_cpu.iter().any(|v| v.starts_with("rocm")) {
        env.insert("PYTORCH_ROCM_ARCH".into(), PYTORCH_ROCM_ARCH.into());
    }
    if let Some(c) = cib {
        env.extend(c.env.clone());
    }
    if !env.is_empty() {
        if gpu_code {
            out.push_str(
                "# GPU architectures to compile for: a build container has no GPU to detect.\n",
            );
        }
        let _ = writeln!(out, "env = {}", inline_table(&env));
    }
    if let Some(c) = cib {
        if !c.repair_exclude.is_empty() {
            let _ = writeln!(
                out,
                "repair-exclude = {}       # cibuildwheel's `auditwheel repair --exclude`",
                array(&c.repair_exclude)
            );
        }
        if !c.config_settings.is_empty() {
            let settings: Vec<String> = c
                .config_settings
                .iter()
                .map(|(k, v)| match &v[..] {
                    [one] => format!("{} = {}", key(k), quote(one)),
                    many => format!("{} = {}", key(k), array(many)),
                })
                .collect();
            let _ = writeln!(out, "config-settings = {{ {} }}", settings.join(", "));
        }
        if c.test_command.is_some() || !c.test_requires.is_empty() || !c.test_sources.is_empty() {
            out.push_str(
                "# cibuildwheel's tests, run on every wheel before it is placed (`{project}`: the\n\
                 # project's sources; the command runs in a scratch directory).\n",
            );
            if let Some(command) = &c.test_command {
                // wheelbuild's `{project}` is the project's own directory: cibuildwheel's
                // `{package}`.
                let command = command.replace("{package}", "{project}");
                let _ = writeln!(out, "test-command = {}", quote(&command));
            }
            if !c.test_requires.is_empty() {
                let _ = writeln!(out, "test-requires = {}", array(&c.test_requires));
            }
            if !c.test_sources.is_empty() {
                let _ = writeln!(out, "test-sources = {}", array(&c.test_sources));
            }
        }
    }
    let cells = pythons.len() * variants_or_cpu.len();
    (out, cells)
}

/// The proposed Python versions, and why.
fn pythons(found: &Detected, opts: &Options) -> (Vec<String>, String) {
    if !opts.python.is_empty() {
        return (opts.python.clone(), "--python".into());
    }
    let specifiers = found
        .requires_python
        .as_deref()
        .and_then(|r| VersionSpecifiers::from_str(r).ok());
    let mut by = Vec::new();
    if let Some(r) = &found.requires_python {
        by.push(format!("requires-python `{r}`"));
    }
    if found.cibuildwheel.is_some() {
        by.push("cibuildwheel's build/skip".into());
    }
    let mut why = vec!["CPython versions of the default table".to_string()];
    if !by.is_empty() {
        why.push(format!("allowed by {}", by.join(" and ")));
    }
    let picked: Vec<String> = PYTHONS
        .iter()
        .filter(|p| {
            specifiers
                .as_ref()
                .is_none_or(|s| Version::from_str(p).is_ok_and(|v| s.contains(&v)))
        })
        .filter(|p| found.cibuildwheel.as_ref().is_none_or(|c| c.selects(p)))
        .map(|p| p.to_string())
        .collect();
    if picked.is_empty() {
        why.push("(none does: edit)".into());
        return (PYTHONS.map(String::from).into(), why.join(" "));
    }
    (picked, why.join(" "))
}

/// The proposed accelerator variants (`None`: CPU only, the default), and why.
fn variants(found: &Detected, opts: &Options) -> (Option<Vec<String>>, String) {
    if !opts.cuda.is_empty() {
        return (Some(opts.cuda.clone()), "--cuda".into());
    }
    let mut variants = Vec::new();
    if !found.cuda.is_empty() {
        variants.push(CUDA.to_string());
    }
    if !found.hip.is_empty() {
        variants.push(ROCM.to_string());
    }
    if variants.is_empty() {
        return (None, "no CUDA or HIP code found".into());
    }
    (
        Some(variants),
        "accelerator variants for the GPU code found: `cpu`, `cudaX.Y`, `rocmX.Y`".into(),
    )
}

/// A config project name (letters, digits, `.`, `_`, `-`) from a distribution's name.
fn project_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "project".into()
    } else {
        name
    }
}

/// `text` as comment lines of at most 92 columns: `first` before the first, `rest` before
/// the others.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > 92 {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A TOML key: bare when it can be.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

fn inline_table(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::detect::Torch;

    /// A torch extension with CUDA and HIP code: a template and a select row, and a file
    /// the config parser takes as it is.
    #[test]
    fn a_cuda_and_hip_torch_extension_gets_a_row_per_variant_and_parses() {
        let found = Detected {
            name: Some("fused ops".into()),
            cuda: vec!["2 `.cu` files".into()],
            hip: vec!["1 `.hip` file".into()],
            torch: Some(Torch {
                pinned: None,
                declared: "setup.py imports torch, not a build requirement".into(),
            }),
            ..Detected::default()
        };
        let opts = Options {
            fallback_name: "x".into(),
            git: "https://example.com/fused.git".into(),
            read_from: "https://example.com/fused.git at 0123".into(),
            ..Options::default()
        };
        let (text, cells) = render(&found, &opts);
        assert_eq!(cells, PYTHONS.len() * 2);
        for line in [
            "cuda = [\"cuda12.4\", \"rocm6.2\"]",
            "template = \"pytorch/pytorch:{torch}-cuda{cuda}-cudnn9-devel\"",
            "when = { cuda = \"rocm6.2\" }",
            "pip = [\"torch=={torch}\"]",
            "name = \"fused-ops\"",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        let config = crate::config::Config::parse(std::path::Path::new("wheelbuild.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.targets.len(), cells);
    }
}
