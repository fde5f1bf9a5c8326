//! `wheelbuild init`: read the project (a directory, or a git URL through the mirrors
//! `lock` uses), write `wheelbuild.toml`, say what it holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::Exit;
use crate::init::{InitError, Options, Snapshot, Source};
use crate::resolve::{GitContext, NetworkSettings, WaitEvent, WaitObserver};

use super::super::args::{GlobalArgs, InitArgs};
use super::super::printer::Printer;
use super::super::settings::CONFIG_FILE;
use super::super::{CommandResult, network_runtime};
use super::common::{CoreExt, usage};

pub(crate) fn init(args: &GlobalArgs, init: &InitArgs, printer: &Printer) -> CommandResult {
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(CONFIG_FILE));
    // Before reading anything: a clone is wasted on a file that would not be written.
    if config.symlink_metadata().is_ok() {
        return Err(crate::Error::from(InitError::Exists { path: config }).into());
    }
    let config_dir = std::path::absolute(match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    })
    .context("cannot read the current directory")?;
    let source = Source::parse(init.source.as_deref().unwrap_or(".")).core()?;
    let (snapshot, mut opts) = match &source {
        Source::Local(dir) => read_local(dir, &config_dir)?,
        Source::Git(url) => {
            if args.offline {
                anyhow::bail!(usage(&format!(
                    "--offline forbids fetching {url}: give a local directory instead"
                )));
            }
            let cache = args
                .cache_dir
                .clone()
                .unwrap_or_else(|| config_dir.join(".wheelbuild/cache"));
            let on_wait: WaitObserver = {
                let printer = *printer;
                Arc::new(move |e: &WaitEvent<'_>| printer.waiting(e))
            };
            let ctx = GitContext {
                root: config_dir.clone(),
                mirrors: cache.join("git"),
                network: NetworkSettings::default(),
                on_wait: Some(on_wait),
            };
            printer.status("Fetching", url);
            let snapshot = network_runtime()?
                .block_on(crate::init::read_git(&ctx, url))
                .core()?;
            let name = url
                .trim_end_matches('/')
                .trim_end_matches(".git")
                .rsplit(['/', ':'])
                .next()
                .unwrap_or_default()
                .to_string();
            let at = snapshot.commit.as_deref().unwrap_or_default();
            let opts = Options {
                fallback_name: name,
                git: url.clone(),
                read_from: format!("{url} at {}", &at[..at.len().min(12)]),
                ..Options::default()
            };
            (snapshot, opts)
        }
    };
    opts.python = init.python.clone();
    opts.cuda = init.cuda.clone();
    opts.image = init.image.clone();
    let found = crate::init::detect(&snapshot).core()?;
    let (text, cells) = crate::init::render(&found, &opts);
    crate::init::write_new(&config, &text).core()?;
    printer.status(
        "Created",
        &format!(
            "{} ({cells} target{}): edit it, then `wheelbuild lock`",
            config.display(),
            if cells == 1 { "" } else { "s" }
        ),
    );
    Ok(Exit::Success)
}

/// A directory: its files, and `git` as the config will say it (the repository holding
/// it, relative to the config, and `subdir` when it is not the repository's root).
fn read_local(dir: &Path, config_dir: &Path) -> anyhow::Result<(Snapshot, Options)> {
    let dir = std::path::absolute(dir).context("cannot read the current directory")?;
    let snapshot = crate::init::read_local(&dir).core()?;
    let repository = dir.ancestors().find(|d| d.join(".git").exists());
    let root = repository.unwrap_or(&dir);
    let subdir = (root != dir).then(|| crate::init::relative_path(root, &dir));
    let git = crate::init::relative_path(config_dir, root);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let opts = Options {
        fallback_name: name,
        read_from: match crate::init::relative_path(config_dir, &dir).as_str() {
            "." => "this directory".into(),
            path => path.to_string(),
        },
        git,
        subdir,
        not_a_repository: repository.is_none(),
        ..Options::default()
    };
    Ok((snapshot, opts))
}
