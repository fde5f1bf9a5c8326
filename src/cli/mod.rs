//! The command layer: parse arguments, resolve settings, run a command, report errors.

mod args;
mod commands;
mod printer;
mod progress;
mod render;
mod settings;

use std::process::ExitCode;

use crate::Exit;
use clap::Parser;

use args::{Cli, Command};
use printer::Printer;
use settings::GlobalSettings;

/// What a command wants the process to exit with when it did not fail.
pub(crate) type CommandResult = anyhow::Result<Exit>;

/// Whether `args` (without the program name) is a valid command line, and clap's words
/// when it is not: for checking the commands that docs and CI examples run.
pub fn check_args(args: &[&str]) -> Result<(), String> {
    Cli::try_parse_from(std::iter::once("wheelbuild").chain(args.iter().copied()))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => Exit::UserError as u8,
            });
        }
    };
    let global = GlobalSettings::resolve(&cli.global);
    global.color.write_global();
    init_tracing(global.verbosity);
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "internal error: wheelbuild panicked: {info}\nplease report this with the command you ran"
        );
        std::process::exit(Exit::Internal as i32);
    }));

    let printer = Printer::new(global.verbosity);
    let result = match &cli.command {
        Command::Init(args) => commands::init::init(&cli.global, args, &printer),
        Command::Lock(args) => commands::lock::lock(&cli.global, &global, args, &printer),
        Command::Plan(args) => commands::plan::plan(&cli.global, &global, args, &printer),
        Command::Check(args) => commands::plan::check(&cli.global, &global, args, &printer),
        Command::Audit(args) => commands::audit::audit(&cli.global, &global, args, &printer),
        Command::Build(args) => commands::build::build(&cli.global, &global, args, &printer),
        Command::Verify(args) => commands::verify::verify(&cli.global, &global, args, &printer),
        Command::Gc(args) => commands::gc::gc(&cli.global, &global, args, &printer),
        Command::Index => commands::index::index(&cli.global, &printer),
        Command::Push(args) => commands::remote::push(&cli.global, &global, args, &printer),
        Command::Pull(args) => commands::remote::pull(&cli.global, &global, args, &printer),
        Command::Key(command) => commands::remote::key(command, &printer),
        Command::Completions { shell } => commands::shell::completions(*shell),
        Command::Man { command, list } => commands::shell::man(command.as_deref(), *list),
    };
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            printer.error(&err);
            ExitCode::from(exit_code(&err) as u8)
        }
    }
}

/// The exit code of an error: from the core error kind when there is one.
fn exit_code(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<crate::Error>() {
            return e.exit();
        }
    }
    Exit::Internal
}

fn init_tracing(verbosity: i8) {
    let filter = match std::env::var("WHEELBUILD_LOG") {
        Ok(f) => f,
        Err(_) if verbosity >= 2 => "wheelbuild=trace,oci_client=debug".into(),
        Err(_) if verbosity == 1 => "wheelbuild=debug".into(),
        Err(_) => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A runtime for commands that touch the network. Installs the TLS crypto provider
/// explicitly: more than one may be linked, and rustls panics if it has to guess.
pub(crate) fn network_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
