//! The benchmark harness: dario against a direct call to a stand-in upstream and against nginx
//! as a plain keep-alive reverse proxy, side by side in one run.
//!
//! ```sh
//! cargo run --release --example bench -- [--quick] [--json out.json] [--md out.md]
//!     [--dario-bin PATH | --library] [--no-nginx] [--streams 100,1000,5000] [--sections 1,2,3,4]
//! cargo run --release --example bench -- --callgrind   # instructions per request vs nginx
//! cargo run --release --example bench -- --pinned      # req/s with the proxy pinned to N cores
//! ```
//!
//! Processes: the harness (load generator, hyper HTTP/1.1 keep-alive connections with
//! TCP_NODELAY, one per worker), the upstream (this executable in `--serve-upstream` mode), dario
//! as its own process (the release binary with a temporary `DARIO_HOME` whose backend files
//! point at the upstream when that loader is present, else this executable in `--serve-dario`
//! mode, which runs the same library server with a config built in code), and nginx (config
//! written to a temp dir; skipped with a note when nginx is not installed). Everything is on
//! 127.0.0.1, every loop is bounded. See BENCHMARKS.md for what each number means.
//!
//! Modules, one per part of a run: `requests` (the request bodies), `load` (the load
//! generator), `upstream` (the stand-in upstream), `procs` (child processes and `/proc`),
//! `stats` (percentiles), `modes` (the internal modes the harness re-executes itself in), `run`
//! (the side-by-side run), `callgrind` (instruction counts under valgrind) and `pinned` (the
//! cores-pinned scaling table).

mod callgrind;
mod load;
mod modes;
mod pinned;
mod procs;
mod requests;
mod run;
#[path = "../../tests/it/support/standin.rs"]
mod standin;
mod stats;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

const EVENTS: usize = 64;
const PACE: Duration = Duration::from_millis(20);
/// An event is late when it reaches the client more than one pacing interval after the upstream
/// wrote it.
const LATE: Duration = PACE;

#[derive(PartialEq, Clone, Copy, Debug)]
enum DarioMode {
    Auto,
    Binary,
    Library,
}

/// dario's benchmark harness (see BENCHMARKS.md). Without a mode flag: the side-by-side run.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench")]
struct Cli {
    // ---- what to run --------------------------------------------------------------------
    /// Instructions per request under `valgrind --tool=callgrind`: nginx (one worker, no master)
    /// and dario (`--workers 1`) on the same request mix, and their ratios.
    #[arg(long, group = "mode")]
    callgrind: bool,
    /// Requests per second with the proxy pinned to N cores (`taskset`), the upstream and the
    /// load generator on the others; one row per `--workers` count.
    #[arg(long, group = "mode")]
    pinned: bool,
    /// Internal: the lean stand-in upstream (prints `listening ADDR`).
    #[arg(long, group = "mode", hide = true)]
    serve_upstream: bool,
    /// Internal: dario's library server with backends pointing at `--upstream`.
    #[arg(long, group = "mode", hide = true)]
    serve_dario: bool,
    /// Sends `--n` sequential requests to `--target` (for profiling a server by hand).
    #[arg(long, group = "mode")]
    drive: bool,

    // ---- the side-by-side run -----------------------------------------------------------
    /// Shorter run (~1.5 min instead of ~3.5 min).
    #[arg(long)]
    quick: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the Markdown report here.
    #[arg(long)]
    md: Option<PathBuf>,
    /// Benchmark this dario binary (default: target/<profile>/dario, built if cargo is around).
    #[arg(long, conflicts_with = "library")]
    dario_bin: Option<PathBuf>,
    /// dario's library server in a child process instead of the binary.
    #[arg(long)]
    library: bool,
    /// Skip the nginx column.
    #[arg(long)]
    no_nginx: bool,
    /// Concurrent stream counts to hold (default 100,1000,5000; --quick 100,1000).
    #[arg(long, value_delimiter = ',')]
    streams: Vec<usize>,
    /// Which numbered sections to run (1 latency, 2 throughput, 3 streaming, 4 big bodies).
    #[arg(long, value_delimiter = ',', default_values_t = [1u8, 2, 3, 4])]
    sections: Vec<u8>,

    // ---- --callgrind and --pinned -------------------------------------------------------
    /// --callgrind: measured requests per lane (after `--warmup` unmeasured ones).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// --callgrind: unmeasured requests per lane before the counters are zeroed.
    #[arg(long, default_value_t = 300)]
    warmup: usize,
    /// --callgrind: where the callgrind dumps go (for `callgrind_annotate`).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// --callgrind: dario with `[history] enabled = false`.
    #[arg(long)]
    no_history: bool,
    /// --pinned: worker counts (proxy cores) to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4])]
    workers: Vec<usize>,
    /// --pinned: seconds measured per point.
    #[arg(long, default_value_t = 5)]
    seconds: u64,

    // ---- internal modes -----------------------------------------------------------------
    /// --serve-upstream: events per stream.
    #[arg(long, default_value_t = EVENTS)]
    events: usize,
    /// --serve-upstream: milliseconds between events.
    #[arg(long, default_value_t = PACE.as_millis() as u64)]
    pace_ms: u64,
    /// --serve-upstream: runtime threads (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// --serve-dario: the upstream's address.
    #[arg(long)]
    upstream: Option<SocketAddr>,
    /// --serve-dario: `[limits] max_in_flight`.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// --serve-dario: the backends hold this configured key (every response then passes the
    /// secret scrubber); default: the client's credential is passed through.
    #[arg(long)]
    key: Option<String>,
    /// --drive: the server to send to.
    #[arg(long)]
    target: Option<SocketAddr>,
    /// --drive: request protocol (`openai` or `anthropic`).
    #[arg(long, default_value = "openai")]
    proto: String,
    /// --drive: number of requests.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// --drive: request body size in bytes.
    #[arg(long, default_value_t = 2048)]
    size: usize,
    /// --drive: the model (an OpenAI model on the Anthropic endpoint = a translated lane).
    #[arg(long)]
    model: Option<String>,
    /// --drive: streaming requests (needs an upstream started with `--pace-ms 0`).
    #[arg(long)]
    stream: bool,
}

impl Cli {
    fn dario_mode(&self) -> DarioMode {
        if self.library {
            DarioMode::Library
        } else if self.dario_bin.is_some() {
            DarioMode::Binary
        } else {
            DarioMode::Auto
        }
    }

    fn stream_counts(&self) -> Vec<usize> {
        match (self.streams.is_empty(), self.quick) {
            (false, _) => self.streams.clone(),
            (true, true) => vec![100, 1000],
            (true, false) => vec![100, 1000, 5000],
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if cli.serve_upstream {
        return modes::serve_upstream(&cli);
    }
    if cli.serve_dario {
        return modes::serve_dario(&cli);
    }
    if cli.drive {
        return modes::drive(&cli);
    }
    if cli.pinned {
        // Builds its own runtime, after pinning this process to the load generator's cores.
        if let Err(e) = pinned::run(&cli) {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = if cli.callgrind {
        rt.block_on(callgrind::run(&cli))
    } else {
        rt.block_on(run::run(cli))
    };
    if let Err(e) = result {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
