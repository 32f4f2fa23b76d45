//! `--pinned`: requests per second with the proxy pinned to N cores (`taskset`) and the upstream
//! and the load generator on the others, for nginx (`worker_processes N`) and dario (`--workers
//! N`), one row per N: the table of issue 15. A row needs N + 2 cores (the proxy's N, at least one
//! for the upstream and one for the load generator); with fewer the harness says so, and with
//! two cores it still prints the one-worker row, marked as sharing the upstream's core with the
//! load generator. Must not: let the load generator or the upstream run on the proxy's cores.

use std::time::Duration;

use crate::load;
use crate::procs::{self, NginxShape};
use crate::requests::{chat_req, Proto};
use crate::run::{dario_binary, nginx_version, reads_backend_files, write_dario_home};
use crate::Cli;

/// The cores this process may run on.
fn allowed_cores() -> Vec<usize> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread (and the threads it starts afterwards) to `cores`.
fn pin_self(cores: &[usize]) -> Result<(), String> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cores {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn taskset(cores: &[usize]) -> Vec<String> {
    vec!["taskset".into(), "-c".into(), list(cores)]
}

struct Row {
    workers: usize,
    nginx: Option<f64>,
    dario: f64,
    translated: f64,
    caveat: bool,
}

pub fn run(cli: &Cli) -> Result<(), String> {
    procs::raise_nofile();
    let cores = allowed_cores();
    let total = cores.len();
    let max_n = cli.workers.iter().copied().max().unwrap_or(1);
    println!("# Requests per second with the proxy pinned to N cores");
    println!();
    println!(
        "command: `cargo run --release --example bench -- --pinned --workers {} --seconds {}`; {total} cores available ({})",
        list(&cli.workers),
        cli.seconds,
        list(&cores)
    );
    println!();
    let mut plan = vec![];
    for &n in &cli.workers {
        if n + 2 <= total {
            plan.push((n, false));
        } else if n == 1 && total >= 2 {
            println!("- workers 1 needs ≥ 3 cores (the proxy's, one for the upstream, one for the load generator); this machine has {total}: the row below shares one core between the upstream and the load generator, so it understates both proxies alike");
            plan.push((n, true));
        } else {
            println!(
                "- workers {n} needs ≥ {} cores; this machine has {total}: skipped",
                n + 2
            );
        }
    }
    if plan.is_empty() {
        return Err("no worker count fits this machine".into());
    }
    println!();
    // The cores after the proxy's widest layout: the first half for the upstream, the rest for
    // the load generator (on a 2-core machine both share the second core).
    let proxy_span = plan.iter().map(|p| p.0).max().unwrap_or(1).min(max_n);
    let rest: Vec<usize> = cores[proxy_span.min(total - 1)..].to_vec();
    let (up_cores, gen_cores) = if rest.len() >= 2 {
        let half = rest.len() / 2;
        (rest[..half].to_vec(), rest[half..].to_vec())
    } else {
        (rest.clone(), rest.clone())
    };
    pin_self(&gen_cores)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(gen_cores.len().max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let upstream = procs::spawn_self_wrapped(
        "upstream",
        &[
            "--serve-upstream".into(),
            "--threads".into(),
            up_cores.len().to_string(),
        ],
        &taskset(&up_cores),
    )?;
    println!(
        "- upstream on cores {} ({} thread(s)); load generator on cores {}; proxy on the first N of {}",
        list(&up_cores),
        up_cores.len(),
        list(&gen_cores),
        list(&cores)
    );
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let home = tmp.path().join("dario-home");
    write_dario_home(&home, upstream.addr)?;
    let bin = dario_binary(cli)?;
    if !reads_backend_files(&bin, &home, upstream.addr) {
        return Err(format!(
            "{} does not read backend files from DARIO_HOME",
            bin.display()
        ));
    }
    let nginx_bin = procs::find_nginx();
    match &nginx_bin {
        Some(_) => println!(
            "- nginx: {} (`worker_processes N`, upstream keepalive 64, proxy_buffering off)",
            nginx_version()
        ),
        None => println!("- nginx: not installed (apt-get install -y nginx): no nginx column"),
    }
    println!(
        "- dario: `{} proxy --workers N`; 2 KiB OpenAI → OpenAI passthrough and Anthropic → OpenAI (translation lane), non-streaming",
        bin.display()
    );
    let o2k = chat_req(Proto::OpenAi, Proto::OpenAi.model(), 2048, false);
    let a2o = chat_req(Proto::Anthropic, Proto::OpenAi.model(), 2048, false);
    let dur = Duration::from_secs(cli.seconds);
    let warm = Duration::from_secs(1);
    let mut rows = vec![];
    for (n, caveat) in plan {
        let proxy = taskset(&cores[..n]);
        let conc = 32 * n;
        let nginx = match &nginx_bin {
            Some(b) => {
                let dir = tmp.path().join(format!("nginx-{n}"));
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let p = procs::spawn_nginx(
                    b,
                    &dir,
                    upstream.addr,
                    &NginxShape {
                        workers: Some(n),
                        no_master: false,
                        wrapper: proxy.clone(),
                    },
                )?;
                let r = rt.block_on(load::closed_loop(p.addr, &o2k, conc, warm, dur));
                Some(r.lat_ns.len() as f64 / r.window.as_secs_f64())
            }
            None => None,
        };
        let d =
            procs::spawn_dario_wrapped(&bin, &home, &["--workers".into(), n.to_string()], &proxy)?;
        let r = rt.block_on(load::closed_loop(d.addr, &o2k, conc, warm, dur));
        let dario = r.lat_ns.len() as f64 / r.window.as_secs_f64();
        if r.errors > 0 {
            println!(
                "- dario, {n} worker(s): {} errors, first: {}",
                r.errors,
                r.first_error.unwrap_or_default()
            );
        }
        let r = rt.block_on(load::closed_loop(d.addr, &a2o, conc, warm, dur));
        let translated = r.lat_ns.len() as f64 / r.window.as_secs_f64();
        rows.push(Row {
            workers: n,
            nginx,
            dario,
            translated,
            caveat,
        });
    }
    println!();
    println!("Closed loop, {} keep-alive connections per worker, {} s measured per cell after 1 s warm-up.", 32, cli.seconds);
    println!();
    println!("| workers (cores) | nginx req/s | dario req/s | dario ÷ nginx | dario translation lane | dario scaling vs 1 worker |");
    println!("|---|---:|---:|---:|---:|---:|");
    let one = rows.iter().find(|r| r.workers == 1).map(|r| r.dario);
    for r in &rows {
        println!(
            "| {}{} | {} | {:.0} | {} | {:.0} | {} |",
            r.workers,
            if r.caveat {
                " (shared gen/upstream core)"
            } else {
                ""
            },
            r.nginx.map_or("—".into(), |v| format!("{v:.0}")),
            r.dario,
            r.nginx
                .map_or("—".into(), |v| format!("{:.2}", r.dario / v)),
            r.translated,
            one.map_or("—".into(), |o| format!(
                "{:.2}× (budget ≥ {:.1}×)",
                r.dario / o,
                0.9 * r.workers as f64
            )),
        );
    }
    Ok(())
}
