//! `--callgrind`: instructions per request, the noise-free measure. nginx (`master_process off`,
//! one worker, the side-by-side run's keep-alive upstream config) and dario (`--workers 1`) each
//! run under `valgrind --tool=callgrind` in front of the same lean upstream (not under valgrind,
//! streams unpaced); on each lane the harness sends `--warmup` requests, zeroes the counters
//! (`callgrind_control -z`), sends `--requests` more on one keep-alive connection and dumps the
//! counters (`callgrind_control -d`): start-up, warm-up and shutdown are outside the count. The
//! dumps stay in `--out-dir` for `callgrind_annotate`. Must not: count anything but the target's
//! own process (the load generator and the upstream run outside valgrind).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::load::{self, Req};
use crate::procs::{self, NginxShape, Proc};
use crate::requests::{chat_req, Proto};
use crate::run::{dario_binary, nginx_version, reads_backend_files, write_dario_home};
use crate::Cli;

/// Events per stream on the streaming lanes (the upstream's default shape, unpaced).
const STREAM_EVENTS: usize = 64;

/// One process under callgrind and the dumps it has written so far.
struct Counted {
    name: &'static str,
    proc: Proc,
    out: PathBuf,
    dumps: usize,
}

impl Counted {
    fn control(&self, flag: &str) -> Result<(), String> {
        let o = Command::new("callgrind_control")
            .arg(flag)
            .arg(self.proc.pid().to_string())
            .output()
            .map_err(|e| format!("could not run callgrind_control: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "callgrind_control {flag} {} failed: {}",
                self.proc.pid(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(())
    }

    /// Zeroes the counters.
    fn zero(&self) -> Result<(), String> {
        self.control("-z")
    }

    /// Dumps the counters (callgrind zeroes them after a dump) and returns the instructions
    /// counted since the last zero, with the dump's path.
    fn dump(&mut self) -> Result<(u64, PathBuf), String> {
        self.control("-d")?;
        self.dumps += 1;
        let path = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                // The file is complete once its `totals:` line (the last one) is written.
                if let Some(n) = text
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("totals:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                {
                    return Ok((n, path));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{} wrote no dump {}", self.name, path.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn valgrind(dir: &Path, name: &str) -> (Vec<String>, PathBuf) {
    let out = dir.join(format!("{name}.callgrind"));
    let wrapper = vec![
        "valgrind".to_string(),
        "--tool=callgrind".to_string(),
        format!("--callgrind-out-file={}", out.display()),
        format!(
            "--log-file={}",
            dir.join(format!("{name}.valgrind.log")).display()
        ),
    ];
    (wrapper, out)
}

/// One lane: what is sent, and whether nginx (which cannot translate) takes part.
struct Lane {
    name: &'static str,
    req: Req,
    stream: bool,
    nginx: bool,
}

/// Instructions per request for each (lane, target).
struct Counts {
    rows: Vec<(&'static str, Option<f64>, Option<f64>)>,
}

impl Counts {
    fn get(&self, lane: &str, dario: bool) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.0 == lane)
            .and_then(|r| if dario { r.2 } else { r.1 })
    }
}

/// Sends the lane's request once and reads the whole answer.
async fn send(conn: &mut load::Conn, lane: &Lane) -> Result<(), String> {
    if lane.stream {
        let r = load::stream_once(conn, &lane.req, STREAM_EVENTS).await;
        if r.ok {
            Ok(())
        } else {
            Err(r.error.unwrap_or_else(|| "stream incomplete".into()))
        }
    } else {
        load::once(conn, &lane.req).await
    }
}

async fn count_lane(
    t: &mut Counted,
    addr: SocketAddr,
    lane: &Lane,
    warmup: usize,
    n: usize,
) -> Result<f64, String> {
    let mut conn = load::connect(addr).await?;
    for _ in 0..warmup {
        send(&mut conn, lane)
            .await
            .map_err(|e| format!("{} on {}: {e}", t.name, lane.name))?;
    }
    t.zero()?;
    for _ in 0..n {
        send(&mut conn, lane)
            .await
            .map_err(|e| format!("{} on {}: {e}", t.name, lane.name))?;
    }
    let (ir, path) = t.dump()?;
    println!(
        "  {:<6} {:<44} {:>12} instructions / {n} = {:>9.0} per request ({})",
        t.name,
        lane.name,
        ir,
        ir as f64 / n as f64,
        path.display()
    );
    Ok(ir as f64 / n as f64)
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub async fn run(cli: &Cli) -> Result<(), String> {
    if !have("valgrind") {
        return Err("valgrind is not installed (apt-get install -y valgrind)".into());
    }
    procs::raise_nofile();
    let dir = cli
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench-callgrind"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| e.to_string())?;
    let (warmup, n) = (cli.warmup, cli.requests);
    // Streams cost ~30× a plain request under valgrind; a quarter of the count keeps the lane
    // as long as the others.
    let n_stream = (n / 4).max(1);

    let upstream = procs::spawn_self(
        "upstream",
        &[
            "--serve-upstream".into(),
            "--pace-ms".into(),
            "0".into(),
            "--events".into(),
            STREAM_EVENTS.to_string(),
        ],
    )?;
    let lanes = [
        Lane {
            name: "OpenAI → OpenAI, 2 KiB",
            req: chat_req(Proto::OpenAi, Proto::OpenAi.model(), 2048, false),
            stream: false,
            nginx: true,
        },
        Lane {
            name: "OpenAI → OpenAI, 2 KiB, stream of 64 events",
            req: chat_req(Proto::OpenAi, Proto::OpenAi.model(), 2048, true),
            stream: true,
            nginx: true,
        },
        Lane {
            name: "Anthropic → Anthropic, 2 KiB, stream of 64 events",
            req: chat_req(Proto::Anthropic, Proto::Anthropic.model(), 2048, true),
            stream: true,
            nginx: true,
        },
        Lane {
            name: "Anthropic → OpenAI (translated), 2 KiB",
            req: chat_req(Proto::Anthropic, Proto::OpenAi.model(), 2048, false),
            stream: false,
            nginx: false,
        },
        Lane {
            name: "Anthropic → OpenAI (translated), stream",
            req: chat_req(Proto::Anthropic, Proto::OpenAi.model(), 2048, true),
            stream: true,
            nginx: false,
        },
        Lane {
            name: "OpenAI → Anthropic (translated), 2 KiB",
            req: chat_req(Proto::OpenAi, Proto::Anthropic.model(), 2048, false),
            stream: false,
            nginx: false,
        },
        Lane {
            name: "OpenAI → Anthropic (translated), stream",
            req: chat_req(Proto::OpenAi, Proto::Anthropic.model(), 2048, true),
            stream: true,
            nginx: false,
        },
    ];
    println!("# Instructions per request under callgrind (one run)");
    println!();
    println!(
        "command: `cargo run --release --example bench -- --callgrind --requests {n} --warmup {warmup}`"
    );
    println!(
        "{warmup} warm-up requests per lane, counters zeroed, then {n} requests ({n_stream} streams) on one keep-alive connection, counters dumped; dumps in {}",
        dir.display()
    );
    println!();

    let mut rows: Vec<(&'static str, Option<f64>, Option<f64>)> =
        lanes.iter().map(|l| (l.name, None, None)).collect();

    // nginx first, then dario: one process under valgrind at a time.
    let nginx_bin = procs::find_nginx();
    let mut nginx_note = "not installed (apt-get install -y nginx): no nginx column".to_string();
    if let Some(bin) = &nginx_bin {
        let ndir = dir.join("nginx");
        std::fs::create_dir_all(&ndir).map_err(|e| e.to_string())?;
        let (wrapper, out) = valgrind(&dir, "nginx");
        let shape = NginxShape {
            workers: Some(1),
            no_master: true,
            wrapper,
        };
        let proc = procs::spawn_nginx(bin, &ndir, upstream.addr, &shape)?;
        nginx_note = format!(
            "{} (`master_process off; worker_processes 1;`, upstream keepalive 64, proxy_http_version 1.1, proxy_buffering off, access_log off)",
            nginx_version()
        );
        let addr = proc.addr;
        let mut t = Counted {
            name: "nginx",
            proc,
            out,
            dumps: 0,
        };
        for (i, lane) in lanes.iter().enumerate().filter(|(_, l)| l.nginx) {
            let k = if lane.stream { n_stream } else { n };
            rows[i].1 = Some(count_lane(&mut t, addr, lane, warmup, k).await?);
        }
    }

    let home = dir.join("dario-home");
    write_dario_home(&home, upstream.addr)?;
    if cli.no_history {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(home.join("config.toml"))
            .and_then(|mut f| f.write_all(b"[history]\nenabled = false\n"))
            .map_err(|e| e.to_string())?;
    }
    let bin = dario_binary(cli)?;
    if !bin.exists() {
        return Err(format!(
            "{} does not exist (cargo build --release --bin dario)",
            bin.display()
        ));
    }
    if !reads_backend_files(&bin, &home, upstream.addr) {
        return Err(format!(
            "{} does not read backend files from DARIO_HOME",
            bin.display()
        ));
    }
    let (wrapper, out) = valgrind(&dir, "dario");
    let proc =
        procs::spawn_dario_wrapped(&bin, &home, &["--workers".into(), "1".into()], &wrapper)?;
    let addr = proc.addr;
    let mut t = Counted {
        name: "dario",
        proc,
        out,
        dumps: 0,
    };
    for (i, lane) in lanes.iter().enumerate() {
        let k = if lane.stream { n_stream } else { n };
        rows[i].2 = Some(count_lane(&mut t, addr, lane, warmup, k).await?);
    }
    drop(t);
    drop(upstream);

    let counts = Counts { rows };
    println!();
    println!("- nginx: {nginx_note}");
    println!(
        "- dario: `{} proxy --workers 1`, DARIO_HOME backend files pointing at the upstream{}",
        bin.display(),
        if cli.no_history {
            ", `[history] enabled = false`"
        } else {
            " (usage history on, its default)"
        }
    );
    println!("- upstream: lean stand-in (`--serve-upstream --pace-ms 0`), not under valgrind");
    println!();
    println!("| lane | nginx | dario | dario ÷ nginx |");
    println!("|---|---:|---:|---:|");
    let f = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.0}"));
    for (lane, ng, da) in &counts.rows {
        let ratio = match (ng, da) {
            (Some(ng), Some(da)) => format!("{:.2}×", da / ng),
            _ => "—".into(),
        };
        println!("| {lane} | {} | {} | {ratio} |", f(*ng), f(*da));
    }
    println!();
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a / b),
        _ => None,
    };
    let show = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{r:.2}×"));
    let verdict = |r: Option<f64>, limit: f64| match r {
        Some(r) if r <= limit => "met",
        Some(_) => "NOT met",
        None => "n/a",
    };
    let [plain, stream, _anthropic_stream, translated, translated_stream, o2a, o2a_stream] =
        lanes.map(|l| l.name);
    let budget_lines = [
        (
            "dario ÷ nginx, passthrough",
            ratio(counts.get(plain, true), counts.get(plain, false)),
            1.0,
        ),
        (
            "dario ÷ nginx, passthrough stream",
            ratio(counts.get(stream, true), counts.get(stream, false)),
            1.0,
        ),
        (
            "translated ÷ passthrough (dario)",
            ratio(counts.get(translated, true), counts.get(plain, true)),
            1.3,
        ),
        (
            "translated ÷ passthrough, stream (dario)",
            ratio(
                counts.get(translated_stream, true),
                counts.get(stream, true),
            ),
            1.3,
        ),
        (
            "OpenAI → Anthropic translated ÷ passthrough (dario)",
            ratio(counts.get(o2a, true), counts.get(plain, true)),
            1.3,
        ),
        (
            "OpenAI → Anthropic translated ÷ passthrough, stream (dario)",
            ratio(counts.get(o2a_stream, true), counts.get(stream, true)),
            1.3,
        ),
    ];
    for (label, r, limit) in budget_lines {
        println!(
            "- {label}: {} (budget ≤ {limit:.1}×: {})",
            show(r),
            verdict(r, limit)
        );
    }
    println!();
    println!(
        "Where the instructions go: callgrind_annotate --inclusive=yes {}/dario.callgrind.1 | head -60",
        dir.display()
    );
    Ok(())
}
