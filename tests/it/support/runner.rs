//! The integration tests' harness (`harness = false` in Cargo.toml): libtest's command
//! line and output (through `libtest-with`), plus one outcome libtest lacks: **skipped**.
//!
//! A test that cannot run here (a tool, a daemon or a fixture missing) calls [`skip`]
//! (directly or through `require`, `base_image`, …). Outside CI it is then reported as
//! `ignored, skipped: <what it needs>`, never as `ok`, and a closing line counts the skips
//! and names what was missing. Under `CI=true`, [`skip`] is a failure: CI must exercise
//! every real part.
//!
//! Tests are registered by `#[test]` from `tests/macros` (imported as
//! `crate::support::test`), which shadows the built-in attribute. Each runs on its own
//! thread named after its path, as under libtest, so that panics and `SKIP` lines name it.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Mutex;

use libtest_with::{Arguments, Failed, RUNTIME_IGNORE_PREFIX, Trial};

/// One registered test: `module_path!()` of its module, its name, its body.
pub struct Test {
    pub module: &'static str,
    pub name: &'static str,
    pub run: fn(),
}

inventory::collect!(Test);

/// The payload a skipped test unwinds with (never shown by the panic hook:
/// `resume_unwind` does not call it).
struct Skipped(String);

thread_local! {
    /// Whether this thread runs a test of this harness (benches include `support` too,
    /// and have no runner to report a skip).
    static IN_RUNNER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What each skip needed, with the tests that needed it.
static SKIPS: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

/// The name of the running test (its thread's name), for messages.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned()
}

/// This test cannot run here because of `why` (what it needs, and how to get it). Under
/// `CI=true` a failure; otherwise the test ends and is reported as skipped.
pub fn skip(why: impl Display) -> ! {
    let test = current_test();
    if super::in_ci() {
        panic!("{why} (test `{test}`); CI=true, so this is a failure, not a skip: see .ci/run");
    }
    if !IN_RUNNER.get() {
        panic!("cannot run here: {why}");
    }
    resume_unwind(Box::new(Skipped(why.to_string())))
}

/// Runs every registered test (filtered by the command line, as libtest would), then
/// prints how many were skipped and why. The process exits with libtest's status.
pub fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let mut tests: Vec<&'static Test> = inventory::iter::<Test>.into_iter().collect();
    tests.sort_by_key(|t| (t.module, t.name));
    let trials = tests
        .into_iter()
        .map(|t| {
            let path = test_path(t);
            Trial::test(path.clone(), move || run(path, t.run))
        })
        .collect();
    let conclusion = libtest_with::run(&args, trials);
    let skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
    let skipped: usize = skips.values().map(Vec::len).sum();
    if skipped > 0 {
        println!("{skipped} tests skipped, not run (each fails under CI=true):");
        for (why, tests) in skips.iter() {
            println!("  {} × {why}", tests.len());
        }
        println!();
    }
    conclusion.exit_code()
}

/// `module::name` without the crate's own name (`it::build::x` → `build::x`), as libtest
/// names tests.
pub fn test_path(t: &Test) -> String {
    let module = t.module.split_once("::").map_or("", |(_, rest)| rest);
    if module.is_empty() {
        t.name.to_owned()
    } else {
        format!("{module}::{}", t.name)
    }
}

fn run(path: String, body: fn()) -> Result<(), Failed> {
    let thread = std::thread::Builder::new()
        .name(path.clone())
        .spawn(move || {
            IN_RUNNER.set(true);
            catch_unwind(AssertUnwindSafe(body))
        });
    let outcome = match thread {
        Ok(handle) => handle.join().unwrap_or_else(Err),
        Err(e) => return Err(format!("cannot start the test's thread: {e}").into()),
    };
    match outcome {
        Ok(()) => Ok(()),
        Err(payload) => match payload.downcast::<Skipped>() {
            Ok(skipped) => {
                let why = skipped.0;
                SKIPS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(why.clone())
                    .or_default()
                    .push(path);
                Err(format!("{RUNTIME_IGNORE_PREFIX}skipped: {why}").into())
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(a panic without a message)");
                Err(format!("test panicked: {message}").into())
            }
        },
    }
}
