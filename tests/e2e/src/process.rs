//! The processes of a scenario: PostgreSQL, the broker (tansu), redis-server, the service under
//! test, and a counting TCP proxy. All on loopback, on free ports, in the scenario's temporary
//! directory, stopped by PID.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout};

use crate::http::Conn;

/// A free TCP port on loopback (bound, read and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Whether the test runs as root.
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A throwaway PostgreSQL cluster on loopback, run as `postgres` when we are root (initdb
/// refuses root).
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    /// Started and not stopped: dropping it stops the cluster (a failed scenario does not
    /// leave a postmaster behind; `pg_ctl` starts it detached, so nothing else would).
    running: std::sync::atomic::AtomicBool,
}

impl Postgres {
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// `initdb` in `dir` (made and, as root, handed to `postgres`), on a free port.
    pub async fn init(bin: &Path, dir: PathBuf) -> Postgres {
        let as_postgres = is_root();
        std::fs::create_dir_all(&dir).expect("pg dir");
        if as_postgres {
            run_ok(Command::new("chown").args(["-R", "postgres"]).arg(&dir)).await;
        }
        let pg = Postgres { bin: bin.to_owned(), dir, port: free_port(), as_postgres, running: false.into() };
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(pg.dir.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run_ok(&mut initdb).await;
        pg
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub async fn start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let mut c = self.command("pg_ctl");
        c.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"]);
        self.running.store(true, std::sync::atomic::Ordering::SeqCst);
        run_ok(&mut c).await;
    }

    /// The crash: immediate shutdown, every connection cut, crash recovery on the next start.
    pub async fn kill(&self) {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        run_ok(&mut c).await;
        self.running.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its connection URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Sends `signal` (`STOP`, `CONT`) to the postmaster and every process it started (the
    /// backends serving the service's connections): a hung database, not a dead one. Returns
    /// how many processes were signalled.
    pub async fn signal_all(&self, signal: &str) -> usize {
        let pid_file =
            std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).expect("postmaster.pid");
        let postmaster: u32 =
            pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("postmaster pid");
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            // `pid (comm) state ppid ...`: the ppid is the second field after the last `)`.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
            if rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(postmaster) {
                pids.push(pid);
            }
        }
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        // bash's builtin `kill`: no procps needed on a minimal machine.
        let script = format!("kill -{signal} {}", list.join(" "));
        run_ok(Command::new("bash").args(["-c", &script])).await;
        pids.len()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.running.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let program = self.bin.join("pg_ctl");
        let mut c = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "-t", "10", "stop"]);
        let _ = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// Runs `c` to completion; panics with its output if it fails.
pub async fn run_ok(c: &mut Command) {
    let out = c.stdin(Stdio::null()).output().await.unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The broker: tansu on its libSQL storage engine, a SQLite file (`tansu.db`) in its own
/// directory, so a broker killed with SIGKILL keeps what it acknowledged, and a restart on the
/// same directory serves it again. (Not PostgreSQL: that is the dependency the scenarios kill.)
pub struct Broker {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// A broker to run from `bin` on a free port, its storage and its log (`tansu.log`) in
    /// `dir` (made if missing; not started).
    pub fn new(bin: &Path, dir: PathBuf) -> Broker {
        std::fs::create_dir_all(&dir).expect("broker dir");
        Broker { bin: bin.to_owned(), port: free_port(), dir, child: None }
    }

    /// Starts it and waits for its port.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))
            .expect("broker log");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .args(tansu_args(&url))
            // tansu resolves `sqlite://tansu.db` against its working directory.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.bin.display()));
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(20)).await;
    }

    /// SIGKILL.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill broker");
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// tansu 0.6 on libSQL (feature `libsql`), one node, listening and advertised on `url`.
fn tansu_args(url: &str) -> Vec<String> {
    [
        "broker",
        "--storage-engine",
        "sqlite://tansu.db",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
    ]
    .map(String::from)
    .to_vec()
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// The service under test, its stdout (JSON log lines) captured.
pub struct Service {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `bin` on a free port with `env`, teeing its stdout to `log_file`, and waits until
    /// `/health/detailed` answers 200.
    pub async fn start(bin: &Path, env: &[(&str, String)], log_file: PathBuf) -> Service {
        let port = free_port();
        let mut c = Command::new(bin);
        c.env("LISTEN", format!("127.0.0.1:{port}"))
            .env("LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = c.spawn().unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = Arc::clone(&logs);
        tokio::spawn(async move {
            let mut file = std::fs::File::create(log_file).ok();
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(f) = file.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        let svc = Service { child, port, logs };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut conn) = Conn::open(svc.port).await {
                if let Ok(r) = conn.send("GET", "/health/detailed", None, None).await {
                    if r.status == 200 {
                        break;
                    }
                }
            }
            assert!(Instant::now() < deadline, "the service did not come up");
            sleep(Duration::from_millis(50)).await;
        }
        svc
    }

    /// SIGKILL: no shutdown, no flush; what the service had not persisted is lost.
    pub async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM (graceful: the outbox is flushed), then waits.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // bash's builtin `kill`: no procps needed on a minimal machine.
            let _ = Command::new("bash")
                .args(["-c", "kill -TERM \"$1\"", "kill", &pid.to_string()])
                .status()
                .await;
        }
        if timeout(Duration::from_secs(15), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }

    /// Its log lines so far, parsed (JSON lines; others skipped).
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// A `redis-server` of the scenario's own: a free loopback port, a temporary directory, no
/// persistence (`--save "" --appendonly no`); never a system instance. Killed on drop.
pub struct Redis {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts `redis-server` (from `PATH`) in `dir`.
    pub async fn start(dir: PathBuf) -> Redis {
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut r = Redis { bin: PathBuf::from("redis-server"), dir, port: free_port(), child: None };
        r.spawn().await;
        r
    }

    async fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server: {e} (apt-get install redis-server)"));
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10)).await;
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL: everything it held is gone (it has no persistence).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill redis-server");
        }
    }

    /// Starts it again, empty, on the same port.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// `total_commands_processed` from `INFO stats` (Redis counts a command once it has run: this
    /// `INFO` is not included, the previous one is).
    pub async fn commands_processed(&self) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect to redis");
        s.write_all(b"INFO stats\r\n").await.expect("INFO");
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        // A bulk string: `$<len>\r\n<len bytes>\r\n`.
        loop {
            let n =
                timeout(Duration::from_secs(2), s.read(&mut buf)).await.expect("INFO reply").expect("read");
            assert!(n > 0, "redis closed the connection");
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            if let Some((len, rest)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) {
                let len: usize = len.parse().expect("bulk length");
                if rest.len() >= len {
                    return rest
                        .lines()
                        .find_map(|l| l.strip_prefix("total_commands_processed:"))
                        .and_then(|v| v.trim().parse().ok())
                        .expect("total_commands_processed");
                }
            }
        }
    }
}

/// A TCP proxy in front of a server (PostgreSQL) that records every connection made through
/// it: when, and whether the server behind it took it. While the server is down, each
/// connection is a client's attempt that fails (the proxy closes it at once): the number of
/// calls that reached for the dependency, counted from outside the service.
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    connections: Arc<Mutex<Vec<(Instant, bool)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port, forwarding to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let at = Instant::now();
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let server =
                        timeout(Duration::from_secs(1), TcpStream::connect(("127.0.0.1", target))).await;
                    let Ok(Ok(mut server)) = server else {
                        log.lock().unwrap().push((at, false));
                        return; // dropped: the client sees the connection closed
                    };
                    log.lock().unwrap().push((at, true));
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Proxy { port, connections, task }
    }

    /// Connections made in `[from, to)`: (all, those the server behind refused).
    pub fn connections_between(&self, from: Instant, to: Instant) -> (usize, usize) {
        let c = self.connections.lock().unwrap();
        let inside: Vec<_> = c.iter().filter(|(t, _)| *t >= from && *t < to).collect();
        (inside.len(), inside.iter().filter(|(_, ok)| !ok).count())
    }

    /// When each refused connection was made.
    pub fn refused(&self) -> Vec<Instant> {
        self.connections.lock().unwrap().iter().filter(|(_, ok)| !ok).map(|(t, _)| *t).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
