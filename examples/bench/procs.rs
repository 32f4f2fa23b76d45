//! Child processes of the harness (the upstream, dario, nginx) and what `/proc` says about them:
//! CPU time (`/proc/<pid>/stat` utime+stime) and resident memory (`/proc/<pid>/status` VmRSS).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Raises the soft RLIMIT_NOFILE to the hard limit (children inherit it). Returns the new value.
pub fn raise_nofile() -> u64 {
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn clk_tck() -> f64 {
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Fields of /proc/<pid>/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// User+system CPU seconds of the processes.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let tck = clk_tck();
    pids.iter()
        .filter_map(|&p| {
            let f = stat_fields(p)?;
            let u: u64 = f.get(11)?.parse().ok()?;
            let s: u64 = f.get(12)?.parse().ok()?;
            Some((u + s) as f64 / tck)
        })
        .sum()
}

/// Sum of VmRSS of the processes, KiB.
pub fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|&p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// Direct children of `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Some(f) = stat_fields(p) {
                if f.get(1).and_then(|pp| pp.parse::<u32>().ok()) == Some(pid) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Samples the peak RSS of some processes on a plain thread (keeps the load generator's runtime
/// undisturbed) until dropped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(&pids), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// A child process that is terminated (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    #[allow(dead_code)]
    pub name: &'static str,
    pub child: Child,
    pub addr: SocketAddr,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines from `r` until one contains `marker`; returns the address token after it, and
/// keeps draining the stream on a thread so the child never blocks on a full pipe.
fn wait_for_addr(r: impl Read + Send + 'static, marker: &str) -> Option<SocketAddr> {
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = None;
    while Instant::now() < deadline {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(i) = line.find(marker) {
            let rest = &line[i + marker.len()..];
            let tok = rest.split_whitespace().next().unwrap_or("");
            found = tok.trim_end_matches('/').parse().ok();
            if found.is_some() {
                break;
            }
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            // Keep the last few KiB for diagnostics only.
            sink.extend_from_slice(&buf[..n]);
            if sink.len() > 16384 {
                sink.drain(..8192);
            }
        }
    });
    found
}

/// A command run through `wrapper` (e.g. `taskset -c 2,3` or `valgrind --tool=callgrind`), or
/// directly when it is empty. Either way the child's pid is the program's (both exec it).
fn wrapped(wrapper: &[String], program: &Path) -> Command {
    match wrapper.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
    }
}

/// Starts this executable in an internal mode that prints `listening <addr>` on stdout.
pub fn spawn_self(name: &'static str, args: &[String]) -> Result<Proc, String> {
    spawn_self_wrapped(name, args, &[])
}

/// [`spawn_self`] through a wrapper command (see [`wrapped`]).
pub fn spawn_self_wrapped(
    name: &'static str,
    args: &[String],
    wrapper: &[String],
) -> Result<Proc, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = wrapped(wrapper, &exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start {name}: {e}"))?;
    let out = child.stdout.take().expect("piped stdout");
    match wait_for_addr(out, "listening ") {
        Some(addr) => Ok(Proc { name, child, addr }),
        None => {
            let _ = child.kill();
            Err(format!("{name} did not report its address"))
        }
    }
}

/// Starts the real `dario proxy` binary with `DARIO_HOME=home` on a free port.
pub fn spawn_dario_binary(bin: &Path, home: &Path) -> Result<Proc, String> {
    spawn_dario_wrapped(bin, home, &[], &[])
}

/// [`spawn_dario_binary`] with more `dario proxy` arguments, through a wrapper command.
pub fn spawn_dario_wrapped(
    bin: &Path,
    home: &Path,
    extra: &[String],
    wrapper: &[String],
) -> Result<Proc, String> {
    let mut child = wrapped(wrapper, bin)
        .args(["proxy", "--host", "127.0.0.1", "--port", "0"])
        .args(extra)
        .env("DARIO_HOME", home)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("DARIO_API_KEY")
        .env_remove("DARIO_PORT")
        .env_remove("DARIO_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
    let err = child.stderr.take().expect("piped stderr");
    match wait_for_addr(err, "listening on http://") {
        Some(addr) => Ok(Proc {
            name: "dario",
            child,
            addr,
        }),
        None => {
            let _ = child.kill();
            Err("dario did not print its listening address".into())
        }
    }
}

pub fn find_nginx() -> Option<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("nginx"))
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

/// How nginx runs: the worker count, whether a master process supervises them, and a command it
/// runs under (`taskset`, `valgrind`). The default is the side-by-side run's: `worker_processes
/// auto` with a master, run directly.
#[derive(Default)]
pub struct NginxShape {
    /// `None` = `worker_processes auto`.
    pub workers: Option<usize>,
    /// `master_process off` (one worker, in the process started: what callgrind can follow).
    pub no_master: bool,
    pub wrapper: Vec<String>,
}

/// nginx as a plain keep-alive reverse proxy in front of `upstream`, config written to `dir`.
pub fn spawn_nginx(
    bin: &Path,
    dir: &Path,
    upstream: SocketAddr,
    shape: &NginxShape,
) -> Result<Proc, String> {
    let port = free_port();
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    let workers = shape.workers.map_or("auto".to_string(), |n| n.to_string());
    let master = if shape.no_master {
        "master_process off;\n"
    } else {
        ""
    };
    let conf = format!(
        r#"{user}{master}worker_processes {workers};
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 32m;
    client_body_buffer_size 1m;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    tcp_nodelay on;
    upstream standin {{
        server {upstream};
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://standin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).map_err(|e| e.to_string())?;
    let child = wrapped(&shape.wrapper, bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start nginx: {e}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Under valgrind nginx takes seconds to start.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(Proc {
                name: "nginx",
                child,
                addr,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(Proc {
        name: "nginx",
        child,
        addr,
    });
    Err(format!(
        "nginx did not start listening on {addr} (see {d}/error.log)"
    ))
}
