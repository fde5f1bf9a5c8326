//! `completions` and `man`: what a shell and `man` know of wheelbuild, generated from the
//! same clap definition that parses its arguments, so they cannot name a flag it lacks.
//! The committed copies in `docs/shell/` are checked against these by a test.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::Exit;
use crate::cli::CommandResult;
use crate::cli::args::Cli;

/// Writes the completion script for `shell` to stdout.
pub(crate) fn completions(shell: clap_complete::Shell) -> CommandResult {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wheelbuild", &mut out);
    write_stdout(&out)
}

/// Writes wheelbuild(1) in roff to stdout, or with `command` wheelbuild-COMMAND(1), as
/// cargo and git ship a page per subcommand.
/// `list`: the commands that have a page instead, one per line.
pub(crate) fn man(command: Option<&str>, list: bool) -> CommandResult {
    if list {
        let mut names = man_pages().join("\n");
        names.push('\n');
        return write_stdout(names.as_bytes());
    }
    // Built, so that each subcommand carries the global options it accepts.
    let mut top = Cli::command();
    top.build();
    let page = match command {
        None => top,
        Some(name) => {
            let Some(sub) = top
                .get_subcommands()
                .find(|s| s.get_name() == name && !s.is_hide_set())
            else {
                let e = Cli::command().error(
                    clap::error::ErrorKind::InvalidValue,
                    format!(
                        "no command `{name}` has a man page; the commands are: {}",
                        man_pages().join(", ")
                    ),
                );
                let _ = e.print();
                return Ok(Exit::UserError);
            };
            sub.clone()
                .name(format!("wheelbuild-{name}"))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .context("rendering the man page")?;
    write_stdout(&out)
}

/// The visible subcommands, whose man pages `man COMMAND` writes.
fn man_pages() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

fn write_stdout(bytes: &[u8]) -> CommandResult {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(Exit::Success)
}
