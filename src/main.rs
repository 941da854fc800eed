//! The `helios-matrix` binary: a thin shell over the library.

fn main() -> std::process::ExitCode {
    helios_matrix::cli::main()
}
