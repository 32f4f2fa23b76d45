//! The `dario` binary: parse the command line and hand over to the library.
//! Everything testable lives in `dario::*`; this file must stay thin.

/// mimalloc (v3): measured against glibc's allocator on the proxy's hot path it cuts the
/// instructions per request by about a tenth at the same idle memory (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: dario::allocator::Mimalloc = dario::allocator::Mimalloc;

fn main() -> std::process::ExitCode {
    dario::cli::main()
}
