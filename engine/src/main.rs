//! The `trawl` binary: argument parsing and exit codes; everything else is the library.

fn main() -> std::process::ExitCode {
    trawl::cli::main()
}
