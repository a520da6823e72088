//! The `vox` binary: see `vox --help`.

fn main() -> std::process::ExitCode {
    vox::cli::main()
}
