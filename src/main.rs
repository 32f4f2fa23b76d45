//! The `dario` binary: parse the command line and hand over to the library.
//! Everything testable lives in `dario::*`; this file must stay thin.

fn main() -> std::process::ExitCode {
    dario::cli::main()
}
