fn main() -> std::process::ExitCode {
    wheelbuild::cli::main()
}
