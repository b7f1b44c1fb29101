//! End-to-end fault test of the breaker-tokio demo service (`demo/`, package `breaker-demo`)
//! against a real PostgreSQL and a real Kafka-protocol broker (tansu), on loopback.
//!
//! Run by `ci/e2e.sh`, which installs PostgreSQL and tansu if needed, builds the service and
//! sets the three variables below. Without them the test is skipped, except under CI (`CI`
//! set), where missing prerequisites fail it.
//!
//! - `BREAKER_E2E_PG_BIN`: directory with `initdb` and `pg_ctl`;
//! - `BREAKER_E2E_TANSU`: the `tansu` binary;
//! - `BREAKER_E2E_SERVICE`: the built `breaker-demo` binary.
//!
//! What it does: 20 reader clients and 4 event publishers load the service (bounded in count
//! and time); PostgreSQL is killed (`pg_ctl stop -m immediate`) and restarted; then the broker
//! is killed (SIGKILL) and restarted. It asserts what issue 5 lists and prints the figures.
//!
//! The broker runs on in-memory storage, so a killed broker loses what it held. To check
//! "every published event delivered exactly once", the broker is read to its high watermark
//! just before it is killed: publishers pause for that moment (readers keep going), so no
//! publish is in flight when it dies; they resume at once, while it is down.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout};

/// Reader clients (`GET /items/{id}`) and publisher clients (`POST /events`).
const READERS: usize = 20;
const PUBLISHERS: usize = 4;
/// Bounds of the load: requests per client and the whole test.
const MAX_REQUESTS_PER_CLIENT: usize = 20_000;
const TEST_DEADLINE: Duration = Duration::from_secs(170);
/// A request not answered within this is a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// The breakers' recovery timeout, shortened for the test (the service's defaults are the
/// seed's 60 s and 30 s).
const RECOVERY: Duration = Duration::from_secs(3);
const DB_THRESHOLD: u32 = 5;
const KAFKA_THRESHOLD: u32 = 3;
/// How long each dependency stays down: two recovery timeouts, so probes fail at least once.
const OUTAGE: Duration = Duration::from_secs(6);
const OUTBOX_CAPACITY: usize = 300;
const ITEMS: i64 = 50;
/// Readers also ask for items that do not exist (404 from the database): while the database is
/// unavailable there is no last good value for them, so they get the degraded 503.
const UNKNOWN_ITEMS: i64 = 10;
const ADMIN_TOKEN: &str = "e2e-admin-token";
/// How long the impatient clients of the hang phase wait: half the database call's timeout
/// (`DB_TIMEOUT_MS` 1 000), so they always leave before the call would fail on its own.
const IMPATIENT: Duration = Duration::from_millis(500);
const IMPATIENT_CLIENTS: usize = 8;
/// Hostile connections of the shedding phase: half slowloris (headers trickled a byte at a time,
/// never finished), half idle (connected, silent). The service's `HEADER_READ_TIMEOUT_MS` (its
/// default, 5 s) must close every one of them.
const HOSTILE: usize = 400;
/// The p99 of normal reads while the hostile connections are held, and cut at the header-read
/// timeout (400 sockets closed within a few milliseconds of each other). What it guards against
/// is the failure before the fix: every new request refused for 30 s. On the 2-core CI machine,
/// with PostgreSQL, the broker, the service and every client on it, the p99 measured 3.5 to
/// 11 ms between runs (one run at 11.04 ms failed a 10 ms bound); 25 ms keeps the margin
/// without letting a stall of even a tenth of a second through.
const HOSTILE_P99_BOUND: Duration = Duration::from_millis(25);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Events queued in the outbox of a service that is then killed with SIGKILL.
const CRASH_EVENTS: usize = 50;
const TOPIC: &str = "events";

// ---------------------------------------------------------------------------------------------
// Prerequisites

struct Prereqs {
    pg_bin: PathBuf,
    tansu: PathBuf,
    service: PathBuf,
}

fn prereqs() -> Result<Prereqs, String> {
    let var = |name: &str| -> Result<PathBuf, String> {
        let v = std::env::var_os(name).ok_or_else(|| format!("{name} is not set"))?;
        let p = PathBuf::from(v);
        if p.exists() {
            Ok(p)
        } else {
            Err(format!("{name}={} does not exist", p.display()))
        }
    };
    let p = Prereqs {
        pg_bin: var("BREAKER_E2E_PG_BIN")?,
        tansu: var("BREAKER_E2E_TANSU")?,
        service: var("BREAKER_E2E_SERVICE")?,
    };
    for tool in ["initdb", "pg_ctl"] {
        if !p.pg_bin.join(tool).exists() {
            return Err(format!("{} has no {tool}", p.pg_bin.display()));
        }
    }
    Ok(p)
}

#[test]
fn dependencies_fail_and_return_under_load() {
    let prereqs = match prereqs() {
        Ok(p) => p,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but the e2e prerequisites are missing ({why}); run ci/e2e.sh")
        }
        Err(why) => {
            eprintln!("e2e skipped: {why} (ci/e2e.sh provides the prerequisites)");
            return;
        }
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        match timeout(TEST_DEADLINE, run(prereqs)).await {
            Ok(()) => {}
            Err(_) => panic!("the e2e test did not finish within {TEST_DEADLINE:?}"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Processes

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A throwaway PostgreSQL cluster on loopback, run as `postgres` when we are root (initdb
/// refuses root).
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
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

    async fn init(bin: &Path, dir: PathBuf) -> Postgres {
        let as_postgres = is_root();
        std::fs::create_dir_all(&dir).expect("pg dir");
        if as_postgres {
            run_ok(Command::new("chown").args(["-R", "postgres"]).arg(&dir)).await;
        }
        let pg = Postgres { bin: bin.to_owned(), dir, port: free_port(), as_postgres };
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

    async fn start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let mut c = self.command("pg_ctl");
        c.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"]);
        run_ok(&mut c).await;
    }

    /// The crash: immediate shutdown, every connection cut, crash recovery on the next start.
    async fn kill(&self) {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        run_ok(&mut c).await;
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Sends `signal` (`STOP`, `CONT`) to the postmaster and every process it started (the
    /// backends serving the service's connections): a hung database, not a dead one. Returns
    /// how many processes were signalled.
    async fn signal_all(&self, signal: &str) -> usize {
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

async fn run_ok(c: &mut Command) {
    let out = c.stdin(Stdio::null()).output().await.unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The broker: tansu with in-memory storage.
struct Broker {
    bin: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Broker {
    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("broker log");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .args(tansu_args(&url))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.bin.display()));
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(20)).await;
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill broker");
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// tansu 0.6 with in-memory storage, one node, listening and advertised on `url`.
fn tansu_args(url: &str) -> Vec<String> {
    ["broker", "--storage-engine", "memory://tansu/", "--listener-url", url, "--advertised-listener-url", url]
        .map(String::from)
        .to_vec()
}

async fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// The service under test, its stdout (JSON log lines) captured.
struct Service {
    child: Child,
    port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Service {
    async fn start(bin: &Path, env: &[(&str, String)], log_file: PathBuf) -> Service {
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
    async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM (graceful: the outbox is flushed), then waits.
    async fn stop(mut self) {
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

    fn log_lines(&self) -> Vec<Value> {
        self.logs.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(port: u16) -> Result<Conn, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Conn { sender })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<Reply, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let mut req =
            http::Request::builder().method(method).uri(path).header(http::header::HOST, "127.0.0.1");
        if let Some(token) = bearer {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Some(v) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        let resp = self.sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Reply { status, retry_after, body })
    }
}

/// A fresh connection per control request (health polls, admin, metrics).
async fn control(port: u16, method: &str, path: &str, bearer: Option<&str>) -> Reply {
    let mut conn = Conn::open(port).await.expect("connect to the service");
    conn.send(method, path, None, bearer).await.expect("control request")
}

async fn metrics_text(port: u16) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let req = http::Request::get("/metrics")
        .header(http::header::HOST, "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = sender.send_request(req).await.expect("metrics");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

async fn breaker_state(port: u16, name: &str) -> (String, usize) {
    let h = control(port, "GET", "/health/detailed", None).await.body;
    let state = h[name]["circuit_breaker"].as_str().unwrap_or("?").to_owned();
    let queued = h["outbox"]["queued"].as_u64().unwrap_or(u64::MAX) as usize;
    (state, queued)
}

/// Polls until `done(state, outbox)`, returning when it became true.
async fn wait_until(
    port: u16,
    name: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&str, usize) -> bool,
) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let (state, queued) = breaker_state(port, name).await;
        if done(&state, queued) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{what}: still {name}={state}, outbox={queued} after {within:?}");
        sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Load

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Publish,
}

#[derive(Clone, Debug)]
enum Outcome {
    Answered {
        status: u16,
        /// `source` of a read (`database`, `cache`, `none`); `delivery` of a publish.
        what: String,
        retry_after: bool,
    },
    TimedOut,
    Failed(String),
}

#[derive(Clone, Debug)]
struct Sample {
    kind: Kind,
    start: Instant,
    latency: Duration,
    event_id: Option<String>,
    outcome: Outcome,
}

struct Load {
    stop: AtomicBool,
    publishers_paused: AtomicBool,
    publishing: AtomicUsize,
    samples: Mutex<Vec<Sample>>,
}

async fn client(load: Arc<Load>, port: u16, kind: Kind, n: usize) {
    let mut conn = Conn::open(port).await.expect("client connection");
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (n as u64 + 1);
    let mut samples = Vec::new();
    for i in 0..MAX_REQUESTS_PER_CLIENT {
        if load.stop.load(Ordering::SeqCst) {
            break;
        }
        let (method, path, body, event_id) = match kind {
            Kind::Read => {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let id = (seed % (ITEMS + UNKNOWN_ITEMS) as u64) as i64 + 1;
                ("GET", format!("/items/{id}"), None, None)
            }
            Kind::Publish => {
                // Announce first, then check the pause: the controller sees either this
                // publish in flight or none started after it paused.
                load.publishing.fetch_add(1, Ordering::SeqCst);
                if load.publishers_paused.load(Ordering::SeqCst) {
                    load.publishing.fetch_sub(1, Ordering::SeqCst);
                    sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let id = format!("p{n}-{i}");
                let body = json!({"id": id, "type": "e2e"});
                ("POST", "/events".to_owned(), Some(body), Some(id))
            }
        };
        let start = Instant::now();
        let result = timeout(CLIENT_TIMEOUT, conn.send(method, &path, body, None)).await;
        let latency = start.elapsed();
        if kind == Kind::Publish {
            load.publishing.fetch_sub(1, Ordering::SeqCst);
        }
        let outcome = match result {
            Ok(Ok(reply)) => {
                let field = if kind == Kind::Read { "source" } else { "delivery" };
                Outcome::Answered {
                    status: reply.status,
                    what: reply.body[field].as_str().unwrap_or("").to_owned(),
                    retry_after: reply.retry_after.is_some(),
                }
            }
            Ok(Err(e)) => Outcome::Failed(e),
            Err(_) => Outcome::TimedOut,
        };
        let broken = !matches!(outcome, Outcome::Answered { .. });
        samples.push(Sample { kind, start, latency, event_id, outcome });
        if broken {
            // The connection's state is unknown after a hang or an error: start afresh.
            conn = Conn::open(port).await.expect("client reconnection");
        }
        sleep(Duration::from_millis(if kind == Kind::Read { 15 } else { 20 })).await;
    }
    load.samples.lock().unwrap().extend(samples);
}

/// A reader that gives up after [`IMPATIENT`], as a browser or an upstream with a short
/// deadline would, until `stop`: each request as (start, latency, status; `None` when it gave
/// up). A fresh connection after giving up.
async fn impatient_client(
    port: u16,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, Duration, Option<u16>)> {
    let mut conn = Conn::open(port).await.expect("impatient connection");
    let mut out = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = 1 + (n * 7 + i) as i64 % ITEMS;
        i += 1;
        let start = Instant::now();
        let r = timeout(IMPATIENT, conn.send("GET", &format!("/items/{id}"), None, None)).await;
        let status = match r {
            Ok(Ok(reply)) => Some(reply.status),
            _ => None,
        };
        out.push((start, start.elapsed(), status));
        if status.is_none() {
            conn = Conn::open(port).await.expect("impatient reconnection");
        }
        sleep(Duration::from_millis(20)).await;
    }
    out
}

/// One hostile connection: slowloris (`trickle`: an unfinished request, one more header byte
/// every 300 ms) or idle (nothing sent). Returns how long the service kept it open (until it
/// closed it or answered 408 and closed), or `None` if it was still open after 20 s.
async fn hostile_connection(port: u16, trickle: bool) -> Option<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    if trickle && s.write_all(b"GET /items/1 HTTP/1.1\r\nHost: e2e\r\nX-Slow: ").await.is_err() {
        return Some(start.elapsed());
    }
    let deadline = sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    let mut buf = [0u8; 512];
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return Some(start.elapsed()),
                Ok(_) => {} // a 408 before the close
            },
            _ = sleep(Duration::from_millis(300)), if trickle => {
                if s.write_all(b"a").await.is_err() {
                    return Some(start.elapsed());
                }
            }
            _ = &mut deadline => return None,
        }
    }
}

/// Pauses the publishers and waits until none is in flight.
async fn pause_publishers(load: &Load) {
    load.publishers_paused.store(true, Ordering::SeqCst);
    while load.publishing.load(Ordering::SeqCst) != 0 {
        sleep(Duration::from_millis(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The broker's contents

/// Every record of the topic, as event id → how many times it was stored.
async fn consume_all(broker: &str) -> BTreeMap<String, usize> {
    let client = ClientBuilder::new(vec![broker.to_owned()]).build().await.expect("consumer client");
    let partition =
        client.partition_client(TOPIC, 0, UnknownTopicHandling::Retry).await.expect("partition client");
    let high = partition.get_offset(OffsetAt::Latest).await.expect("high watermark");
    let mut offset = partition.get_offset(OffsetAt::Earliest).await.expect("low watermark");
    let mut seen = BTreeMap::new();
    while offset < high {
        let (records, _) = partition.fetch_records(offset, 1..10_000_000, 200).await.expect("fetch");
        for r in records {
            offset = offset.max(r.offset + 1);
            let key = r.record.key.map(|k| String::from_utf8_lossy(&k).into_owned());
            *seen.entry(key.unwrap_or_default()).or_insert(0) += 1;
        }
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// Figures

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Latencies of the requests of `kind` started in `[from, to)`, and how many of them were not
/// answered in time or at all.
fn window(samples: &[Sample], kind: Kind, from: Instant, to: Instant) -> (Vec<Duration>, usize) {
    let mut lat = Vec::new();
    let mut unanswered = 0;
    for s in samples.iter().filter(|s| s.kind == kind && s.start >= from && s.start < to) {
        match s.outcome {
            Outcome::Answered { .. } => lat.push(s.latency),
            _ => unanswered += 1,
        }
    }
    lat.sort();
    (lat, unanswered)
}

fn log_messages<'a>(logs: &'a [Value], breaker: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| l["fields"]["circuit_breaker"].as_str() == Some(breaker))
        .map(|l| &l["fields"])
        .collect()
}

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// The test

async fn run(p: Prereqs) {
    let t0 = Instant::now();
    let at = |t: Instant| t.duration_since(t0);
    let work = std::env::temp_dir().join(format!("breaker-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    println!("e2e: work directory {}", work.display());

    let pg = Postgres::init(&p.pg_bin, work.join("pg")).await;
    pg.start().await;
    let mut broker =
        Broker { bin: p.tansu.clone(), port: free_port(), log: work.join("tansu.log"), child: None };
    broker.start().await;

    let env = vec![
        ("DATABASE_URL", pg.url()),
        ("KAFKA_BROKERS", broker.addr()),
        ("KAFKA_TOPIC", TOPIC.to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("DB_FAILURE_THRESHOLD", DB_THRESHOLD.to_string()),
        ("DB_RECOVERY_TIMEOUT_MS", RECOVERY.as_millis().to_string()),
        ("DB_TIMEOUT_MS", "1000".to_owned()),
        ("KAFKA_FAILURE_THRESHOLD", KAFKA_THRESHOLD.to_string()),
        ("KAFKA_RECOVERY_TIMEOUT_MS", RECOVERY.as_millis().to_string()),
        ("KAFKA_TIMEOUT_MS", "1000".to_owned()),
        ("OUTBOX_CAPACITY", OUTBOX_CAPACITY.to_string()),
        ("OUTBOX_PATH", work.join("outbox.sqlite3").display().to_string()),
    ];
    let svc = Service::start(&p.service, &env, work.join("service.log")).await;
    let port = svc.port;

    // Seed the items (each write also publishes an `item_updated` event).
    let mut seed_events: Vec<(String, String)> = Vec::new();
    {
        let mut conn = Conn::open(port).await.expect("connect");
        for id in 1..=ITEMS {
            let r = conn
                .send("PUT", &format!("/items/{id}"), Some(json!({"value": format!("value {id}")})), None)
                .await
                .expect("seed write");
            assert_eq!(r.status, 200, "seed write: {}", r.body);
            let event = &r.body["event"];
            seed_events.push((
                event["id"].as_str().unwrap_or_default().to_owned(),
                event["delivery"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }

    // ---- Load.
    let load = Arc::new(Load {
        stop: AtomicBool::new(false),
        publishers_paused: AtomicBool::new(false),
        publishing: AtomicUsize::new(0),
        samples: Mutex::new(Vec::new()),
    });
    let mut clients = Vec::new();
    for n in 0..READERS {
        clients.push(tokio::spawn(client(Arc::clone(&load), port, Kind::Read, n)));
    }
    for n in 0..PUBLISHERS {
        clients.push(tokio::spawn(client(Arc::clone(&load), port, Kind::Publish, n)));
    }
    sleep(Duration::from_secs(2)).await;

    // ---- PostgreSQL dies under load, then returns.
    let db_kill = Instant::now();
    pg.kill().await;
    let db_open =
        wait_until(port, "database", Duration::from_secs(10), "database breaker opens", |s, _| s == "open")
            .await;
    sleep(OUTAGE.saturating_sub(db_kill.elapsed())).await;
    let db_restart = Instant::now();
    pg.start().await;
    let db_up = Instant::now();
    let db_closed =
        wait_until(port, "database", RECOVERY + Duration::from_secs(5), "database breaker closes", |s, _| {
            s == "closed"
        })
        .await;
    sleep(Duration::from_secs(2)).await;

    // ---- PostgreSQL hangs (SIGSTOP of every process) while impatient clients give up after
    // 0.5 s, before the 1 s call timeout (issue 13: before the fix, 600 of 600 such requests
    // hung until the client left and the breaker stayed CLOSED with no failure counted). The
    // breaker must open within its threshold of calls, and requests must then be answered fast.
    let stop_impatient = Arc::new(AtomicBool::new(false));
    let impatient: Vec<_> = (0..IMPATIENT_CLIENTS)
        .map(|n| tokio::spawn(impatient_client(port, n, Arc::clone(&stop_impatient))))
        .collect();
    sleep(Duration::from_millis(500)).await;
    let hang = Instant::now();
    let stopped = pg.signal_all("STOP").await;
    let hang_open = wait_until(
        port,
        "database",
        Duration::from_secs(10),
        "database breaker opens while PostgreSQL hangs and clients give up",
        |s, _| s == "open",
    )
    .await;
    sleep(Duration::from_millis(1_500)).await;
    stop_impatient.store(true, Ordering::SeqCst);
    let mut hang_samples = Vec::new();
    for c in impatient {
        hang_samples.extend(c.await.expect("impatient client"));
    }
    pg.signal_all("CONT").await;
    let hang_closed = wait_until(
        port,
        "database",
        RECOVERY + Duration::from_secs(5),
        "database breaker closes after the hang",
        |s, _| s == "closed",
    )
    .await;
    {
        let during: Vec<_> =
            hang_samples.iter().filter(|(start, ..)| *start >= hang && *start < hang_open).collect();
        let gave_up = during.iter().filter(|(.., st)| st.is_none()).count();
        // Answered fast once open: from 100 ms after the breaker opened until the clients stopped.
        let settled = hang_open + Duration::from_millis(100);
        let mut open_lat: Vec<Duration> =
            hang_samples.iter().filter(|(start, ..)| *start >= settled).map(|(_, l, _)| *l).collect();
        open_lat.sort();
        let open_gave_up =
            hang_samples.iter().filter(|(start, _, st)| *start >= settled && st.is_none()).count();
        let statuses: BTreeMap<String, usize> = hang_samples
            .iter()
            .filter(|(start, ..)| *start >= settled)
            .fold(BTreeMap::new(), |mut m, (_, _, st)| {
                *m.entry(st.map_or("gave up".to_owned(), |s| s.to_string())).or_insert(0) += 1;
                m
            });
        let p99 = percentile(&open_lat, 99.0);
        println!(
            "hang: {stopped} PostgreSQL processes stopped at {:.2} s; {} requests by {IMPATIENT_CLIENTS} clients patient for {} before the breaker opened, {gave_up} gave up; breaker open at {:.2} s (+{}); after: {} requests, {open_gave_up} gave up, p50 {}, p99 {}, statuses {statuses:?}; closed at {:.2} s after SIGCONT",
            at(hang).as_secs_f64(),
            during.len(),
            ms(IMPATIENT),
            at(hang_open).as_secs_f64(),
            ms(hang_open - hang),
            open_lat.len(),
            ms(percentile(&open_lat, 50.0)),
            ms(p99),
            at(hang_closed).as_secs_f64(),
        );
        assert!(gave_up > 0, "the scenario needs clients that gave up before the breaker opened");
        // The calls time out after 1 s on their own and count (and so would the abandoned ones):
        // DB_THRESHOLD of them open the breaker, so it opens after about one call timeout.
        assert!(
            hang_open - hang <= Duration::from_secs(4),
            "the breaker took {} to open",
            ms(hang_open - hang)
        );
        assert!(open_lat.len() >= 20, "too few requests while open: {}", open_lat.len());
        assert_eq!(open_gave_up, 0, "requests still hang while the breaker is open: {statuses:?}");
        assert!(p99 <= Duration::from_millis(100), "p99 while open {}", ms(p99));
    }
    sleep(Duration::from_secs(1)).await;

    // ---- The broker dies under load, then returns. First, read what it holds.
    pause_publishers(&load).await;
    wait_until(port, "kafka", Duration::from_secs(10), "outbox drained before the broker kill", |s, q| {
        s == "closed" && q == 0
    })
    .await;
    let before_kill = consume_all(&broker.addr()).await;
    let k_kill = Instant::now();
    broker.kill().await;
    load.publishers_paused.store(false, Ordering::SeqCst);
    let k_open =
        wait_until(port, "kafka", Duration::from_secs(10), "kafka breaker opens", |s, _| s == "open").await;
    sleep(OUTAGE.saturating_sub(k_kill.elapsed())).await;
    let k_restart = Instant::now();
    broker.start().await;
    let k_up = Instant::now();
    let k_closed =
        wait_until(port, "kafka", RECOVERY + Duration::from_secs(5), "kafka breaker closes", |s, _| {
            s == "closed"
        })
        .await;
    let k_drained =
        wait_until(port, "kafka", Duration::from_secs(10), "outbox drained after recovery", |_, q| q == 0)
            .await;
    sleep(Duration::from_secs(1)).await;

    // ---- Hostile clients: slowloris and idle connections while the load goes on. The
    // service sheds every one within its header-read timeout; normal requests are unaffected
    // (their p99 in this window is checked with the others, at the end).
    let hostile_start = Instant::now();
    let hostile: Vec<_> = (0..HOSTILE).map(|i| tokio::spawn(hostile_connection(port, i % 2 == 0))).collect();
    let mut held = Vec::new();
    for h in hostile {
        held.push(h.await.expect("hostile connection"));
    }
    let hostile_end = Instant::now();
    {
        let still_open = held.iter().filter(|h| h.is_none()).count();
        let mut kept: Vec<Duration> = held.iter().flatten().copied().collect();
        kept.sort();
        println!(
            "hostile: {HOSTILE} connections ({} slowloris, {} idle): {still_open} still open after 20 s; held p50 {}, max {} (header-read timeout {:?})",
            HOSTILE.div_ceil(2),
            HOSTILE / 2,
            ms(percentile(&kept, 50.0)),
            ms(kept.last().copied().unwrap_or_default()),
            HEADER_READ_TIMEOUT
        );
        assert_eq!(still_open, 0, "hostile connections not shed");
        let max = kept.last().copied().unwrap_or_default();
        assert!(
            max <= HEADER_READ_TIMEOUT + Duration::from_secs(2),
            "a hostile connection was held {}",
            ms(max)
        );
    }

    // ---- Stop the load; let the last events through.
    load.stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client task");
    }
    wait_until(port, "kafka", Duration::from_secs(10), "final outbox drain", |_, q| q == 0).await;
    let after_restart = consume_all(&broker.addr()).await;

    // ---- Manual control.
    let admin = "/admin/breakers/database/force_open";
    let no_token = control(port, "POST", admin, None).await.status;
    let wrong_token = control(port, "POST", admin, Some("not-the-token")).await.status;
    let state_after_refusals = breaker_state(port, "database").await.0;
    let right_token = control(port, "POST", admin, Some(ADMIN_TOKEN)).await.status;
    let forced = breaker_state(port, "database").await.0;
    let reset = control(port, "POST", "/admin/breakers/database/reset", Some(ADMIN_TOKEN)).await.status;
    let after_reset = breaker_state(port, "database").await.0;
    let unknown = control(port, "POST", "/admin/breakers/nope/force_open", Some(ADMIN_TOKEN)).await.status;
    // A second instance without a token: the endpoints do not exist.
    let no_admin_env: Vec<_> = env.iter().filter(|(k, _)| *k != "ADMIN_TOKEN").cloned().collect();
    let plain = Service::start(&p.service, &no_admin_env, work.join("service-no-admin.log")).await;
    let without_config = control(plain.port, "POST", admin, Some(ADMIN_TOKEN)).await.status;
    plain.stop().await;

    let metrics = metrics_text(port).await;
    svc_stop_and_check(
        svc,
        Checks {
            t0,
            load,
            seed_events,
            before_kill,
            after_restart,
            metrics,
            times: Times {
                db_kill,
                db_open,
                db_restart,
                db_up,
                db_closed,
                k_kill,
                k_open,
                k_restart,
                k_up,
                k_closed,
                k_drained,
                hostile_start,
                hostile_end,
            },
            admin: [no_token, wrong_token, right_token, reset, unknown, without_config],
            admin_states: [state_after_refusals, forced, after_reset],
        },
    )
    .await;

    // ---- kill -9 with events in the outbox. A second service whose broker address has nothing
    // listening queues every event in its outbox file; it is killed with SIGKILL (no shutdown,
    // no flush), started again on the same file with the real broker, and every event it
    // acknowledged as queued must reach the broker exactly once.
    let crash_outbox = work.join("crash-outbox.sqlite3").display().to_string();
    let with = |brokers: String| -> Vec<(&str, String)> {
        env.iter()
            .map(|(k, v)| match *k {
                "KAFKA_BROKERS" => (*k, brokers.clone()),
                "OUTBOX_PATH" => (*k, crash_outbox.clone()),
                _ => (*k, v.clone()),
            })
            .collect()
    };
    let first = Service::start(
        &p.service,
        &with(format!("127.0.0.1:{}", free_port())),
        work.join("service-crash-1.log"),
    )
    .await;
    let mut queued = Vec::new();
    {
        let mut conn = Conn::open(first.port).await.expect("connect to the first service");
        for i in 0..CRASH_EVENTS {
            let id = format!("crash-{i}");
            let r = conn
                .send("POST", "/events", Some(json!({"id": id, "type": "e2e"})), None)
                .await
                .expect("publish to the first service");
            assert_eq!(r.body["delivery"].as_str(), Some("queued"), "{id}: {} {}", r.status, r.body);
            queued.push(id);
        }
    }
    let killed = Instant::now();
    first.kill9().await;
    let second = Service::start(&p.service, &with(broker.addr()), work.join("service-crash-2.log")).await;
    let drained = wait_until(
        second.port,
        "kafka",
        Duration::from_secs(20),
        "the restarted service drains the outbox",
        |_, q| q == 0,
    )
    .await;
    let stored = consume_all(&broker.addr()).await;
    second.stop().await;
    let lost: Vec<_> = queued.iter().filter(|id| !stored.contains_key(*id)).collect();
    let twice: Vec<_> = queued.iter().filter(|id| stored.get(*id).is_some_and(|&n| n > 1)).collect();
    println!(
        "kill -9: {} events queued by a service with no broker, SIGKILLed; restarted on the same outbox, drained {} after the kill; lost {}, stored twice {}",
        queued.len(),
        ms(drained - killed),
        lost.len(),
        twice.len()
    );
    assert!(lost.is_empty(), "events acknowledged as queued were lost across kill -9: {lost:?}");
    assert!(twice.is_empty(), "events stored twice: {twice:?}");

    broker.kill().await;
    pg.kill().await;
    println!("e2e: total {:.1} s", at(Instant::now()).as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
}

struct Times {
    db_kill: Instant,
    db_open: Instant,
    db_restart: Instant,
    db_up: Instant,
    db_closed: Instant,
    k_kill: Instant,
    k_open: Instant,
    k_restart: Instant,
    k_up: Instant,
    k_closed: Instant,
    k_drained: Instant,
    hostile_start: Instant,
    hostile_end: Instant,
}

struct Checks {
    t0: Instant,
    load: Arc<Load>,
    seed_events: Vec<(String, String)>,
    before_kill: BTreeMap<String, usize>,
    after_restart: BTreeMap<String, usize>,
    metrics: String,
    times: Times,
    admin: [u16; 6],
    admin_states: [String; 3],
}

async fn svc_stop_and_check(svc: Service, c: Checks) {
    let logs_before_stop = svc.log_lines();
    svc.stop().await;
    let t = &c.times;
    let samples = c.load.samples.lock().unwrap().clone();
    let at = |i: Instant| i.duration_since(c.t0).as_secs_f64();

    // Every request answered within the client timeout.
    let reads = samples.iter().filter(|s| s.kind == Kind::Read).count();
    let publishes = samples.len() - reads;
    let hung: Vec<_> = samples.iter().filter(|s| matches!(s.outcome, Outcome::TimedOut)).collect();
    let failed: Vec<_> = samples.iter().filter(|s| matches!(s.outcome, Outcome::Failed(_))).collect();
    let mut all: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    all.sort();

    // While the database breaker is open.
    let (db_lat, db_unanswered) = window(&samples, Kind::Read, t.db_open, t.db_restart);
    let db_p99 = percentile(&db_lat, 99.0);
    let degraded = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_open && s.start < t.db_restart)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { what, .. } if what != "database"))
        .count();
    let with_retry_after = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_open && s.start < t.db_restart)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { status: 503, retry_after: true, .. }))
        .count();
    let unavailable = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_open && s.start < t.db_restart)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { status: 503, .. }))
        .count();
    // Normal answers after the database returned.
    let first_normal_read = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_up)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { status: 200, what, .. } if what == "database"))
        .map(|s| s.start + s.latency)
        .min()
        .expect("no normal read after the database returned");

    // While hostile connections are held.
    let (h_lat, h_unanswered) = window(&samples, Kind::Read, t.hostile_start, t.hostile_end);
    let h_p99 = percentile(&h_lat, 99.0);

    // While the kafka breaker is open.
    let (k_lat, k_unanswered) = window(&samples, Kind::Publish, t.k_open, t.k_restart);
    let k_p99 = percentile(&k_lat, 99.0);
    let first_published = samples
        .iter()
        .filter(|s| s.kind == Kind::Publish && s.start >= t.k_up)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { what, .. } if what == "published"))
        .map(|s| s.start + s.latency)
        .min();

    // Events.
    let mut accepted: HashMap<String, String> = HashMap::new();
    let mut overflowed: Vec<String> = Vec::new();
    for (id, delivery) in &c.seed_events {
        accepted.insert(id.clone(), delivery.clone());
    }
    for s in &samples {
        if let (Some(id), Outcome::Answered { what, .. }) = (&s.event_id, &s.outcome) {
            match what.as_str() {
                "published" | "queued" => {
                    accepted.insert(id.clone(), what.clone());
                }
                "overflow" => overflowed.push(id.clone()),
                other => panic!("event {id}: unexpected delivery {other:?}"),
            }
        }
    }
    let mut consumed: BTreeMap<String, usize> = c.before_kill.clone();
    for (id, n) in &c.after_restart {
        *consumed.entry(id.clone()).or_insert(0) += n;
    }
    let queued = accepted.values().filter(|d| *d == "queued").count();
    let missing: Vec<_> = accepted.keys().filter(|id| !consumed.contains_key(*id)).collect();
    let duplicated: Vec<_> = consumed.iter().filter(|(_, n)| **n > 1).collect();
    let unknown: Vec<_> = consumed.keys().filter(|id| !accepted.contains_key(*id)).collect();
    let overflow_metric = metric(&c.metrics, "outbox_events_overflowed_total", &[]);
    // Refusals are logged one line per second at most, each with the count since the last.
    let overflow_lines: Vec<u64> = logs_before_stop
        .iter()
        .filter(|l| l["fields"]["message"].as_str() == Some("outbox full: events refused"))
        .filter_map(|l| l["fields"]["refused"].as_u64())
        .collect();
    let overflow_logged = overflow_lines.iter().sum::<u64>() as usize;

    // Transitions in the logs and in the metrics.
    let logs = logs_before_stop;
    let transitions = |name: &str| {
        let msgs = log_messages(&logs, name);
        let opening: Vec<_> = msgs
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|s| s.ends_with("opening circuit")))
            .collect();
        let half_open: Vec<f64> = msgs
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|s| s.ends_with("transitioning to HALF_OPEN")))
            .filter_map(|m| m["elapsed_seconds"].as_f64())
            .collect();
        let closed = msgs
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|s| s.ends_with("recovered, closing circuit")))
            .count();
        let first_open = opening.first().map(|m| (m["failure_count"].as_u64(), m["threshold"].as_u64()));
        (opening.len(), half_open, closed, first_open)
    };
    let (db_opens, db_half, db_closes, db_first_open) = transitions("database");
    let (k_opens, k_half, k_closes, k_first_open) = transitions("kafka");
    let m = |b: &str, from: &str, to: &str| {
        metric(&c.metrics, "circuit_breaker_transitions_total", &[("breaker", b), ("from", from), ("to", to)])
    };

    // ---- Figures.
    println!();
    println!(
        "==== e2e figures ({} readers + {} publishers, client timeout {:?}, recovery timeout {:?})",
        READERS, PUBLISHERS, CLIENT_TIMEOUT, RECOVERY
    );
    println!(
        "requests: {} reads, {} publishes; hung past the client timeout: {}; transport errors: {}",
        reads,
        publishes,
        hung.len(),
        failed.len()
    );
    println!(
        "latency, all requests: p50 {} p99 {} max {}",
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
        ms(*all.last().unwrap_or(&Duration::ZERO))
    );
    println!("-- database (threshold {DB_THRESHOLD})");
    println!("killed at {:.2} s; breaker open at {:.2} s (+{}); restarted at {:.2} s, ready at {:.2} s; closed at {:.2} s", at(t.db_kill), at(t.db_open), ms(t.db_open - t.db_kill), at(t.db_restart), at(t.db_up), at(t.db_closed));
    println!("first open logged with failure_count/threshold = {:?}", db_first_open);
    println!("while open: {} reads, unanswered {}, degraded {} (503 {}, with Retry-After {}), p50 {} p99 {} max {}", db_lat.len() + db_unanswered, db_unanswered, degraded, unavailable, with_retry_after, ms(percentile(&db_lat, 50.0)), ms(db_p99), ms(*db_lat.last().unwrap_or(&Duration::ZERO)));
    println!("half-open after (elapsed_seconds in the logs): {:?}; closed {} time(s)", db_half, db_closes);
    println!(
        "normal answers resumed {} after the database was ready (bound: recovery timeout + 1 s = {:?})",
        ms(first_normal_read - t.db_up),
        RECOVERY + Duration::from_secs(1)
    );
    println!("-- kafka (threshold {KAFKA_THRESHOLD}, outbox {OUTBOX_CAPACITY})");
    println!("killed at {:.2} s; breaker open at {:.2} s (+{}); restarted at {:.2} s, listening at {:.2} s; closed at {:.2} s; outbox drained at {:.2} s", at(t.k_kill), at(t.k_open), ms(t.k_open - t.k_kill), at(t.k_restart), at(t.k_up), at(t.k_closed), at(t.k_drained));
    println!("first open logged with failure_count/threshold = {:?}", k_first_open);
    println!(
        "while open: {} publishes, unanswered {}, p50 {} p99 {} max {}",
        k_lat.len() + k_unanswered,
        k_unanswered,
        ms(percentile(&k_lat, 50.0)),
        ms(k_p99),
        ms(*k_lat.last().unwrap_or(&Duration::ZERO))
    );
    println!("half-open after (elapsed_seconds): {:?}; closed {} time(s); first direct publish {} after the broker listened", k_half, k_closes, first_published.map_or("never".into(), |f| ms(f - t.k_up)));
    println!("events: {} accepted ({} via the outbox), {} overflowed (metric {}, logged {} in {} lines); consumed {} distinct ({} before the kill, {} after the restart); missing {}, duplicated {}, unknown {}", accepted.len(), queued, overflowed.len(), overflow_metric, overflow_logged, overflow_lines.len(), consumed.len(), c.before_kill.len(), c.after_restart.len(), missing.len(), duplicated.len(), unknown.len());
    println!("metrics transitions: database closed→open {} open→half_open {} half_open→open {} half_open→closed {}; kafka closed→open {} open→half_open {} half_open→open {} half_open→closed {}",
        m("database", "closed", "open"), m("database", "open", "half_open"), m("database", "half_open", "open"), m("database", "half_open", "closed"),
        m("kafka", "closed", "open"), m("kafka", "open", "half_open"), m("kafka", "half_open", "open"), m("kafka", "half_open", "closed"));
    println!("admin: no token {}, wrong token {} (state after: {}), right token {} (state: {}), reset {} (state: {}), unknown breaker {}, no token configured {}",
        c.admin[0], c.admin[1], c.admin_states[0], c.admin[2], c.admin_states[1], c.admin[3], c.admin_states[2], c.admin[4], c.admin[5]);
    println!();

    println!(
        "-- hostile connections held: {} normal reads, unanswered {}, p50 {} p99 {} (bound {})",
        h_lat.len() + h_unanswered,
        h_unanswered,
        ms(percentile(&h_lat, 50.0)),
        ms(h_p99),
        ms(HOSTILE_P99_BOUND)
    );

    // ---- Assertions.
    assert!(h_lat.len() > 100, "too few normal reads while hostile connections were held");
    assert_eq!(h_unanswered, 0, "normal reads went unanswered while hostile connections were held");
    assert!(h_p99 <= HOSTILE_P99_BOUND, "p99 of normal reads under hostile connections: {}", ms(h_p99));
    assert!(hung.is_empty(), "{} requests hung past the client timeout: {:?}", hung.len(), hung.first());
    let first_error = failed.first().map(|s| match &s.outcome {
        Outcome::Failed(e) => e.as_str(),
        _ => "",
    });
    assert!(failed.is_empty(), "{} requests failed at the transport, first: {first_error:?}", failed.len());
    // The database breaker opened at its threshold.
    assert_eq!(db_first_open, Some((Some(u64::from(DB_THRESHOLD)), Some(u64::from(DB_THRESHOLD)))));
    assert!(m("database", "closed", "open") >= 1.0);
    // While open: every request answered, fast.
    assert!(db_lat.len() > 100, "too few reads while the database breaker was open");
    assert_eq!(db_unanswered, 0);
    assert!(db_p99 <= Duration::from_millis(5), "p99 while the database breaker is open: {}", ms(db_p99));
    assert_eq!(unavailable, with_retry_after, "every degraded 503 carries Retry-After");
    // Half-open after the timeout, then closed, and normal answers within timeout + 1 s.
    assert!(
        !db_half.is_empty() && db_half.iter().all(|&e| e >= RECOVERY.as_secs_f64()),
        "half-open before the recovery timeout: {db_half:?}"
    );
    assert!(db_closes >= 1 && m("database", "half_open", "closed") >= 1.0);
    assert!(m("database", "open", "half_open") >= 1.0);
    assert!(
        first_normal_read - t.db_up <= RECOVERY + Duration::from_secs(1),
        "normal reads resumed {} after the database returned",
        ms(first_normal_read - t.db_up)
    );
    // The kafka breaker: same shape.
    assert_eq!(k_first_open, Some((Some(u64::from(KAFKA_THRESHOLD)), Some(u64::from(KAFKA_THRESHOLD)))));
    assert!(k_lat.len() > 20 && k_unanswered == 0);
    assert!(k_p99 <= Duration::from_millis(5), "p99 while the kafka breaker is open: {}", ms(k_p99));
    assert!(
        !k_half.is_empty() && k_half.iter().all(|&e| e >= RECOVERY.as_secs_f64()),
        "kafka half-open before the recovery timeout: {k_half:?}"
    );
    assert!(k_closes >= 1);
    assert!(
        t.k_closed - t.k_up <= RECOVERY + Duration::from_secs(1),
        "kafka closed {} after the broker returned",
        ms(t.k_closed - t.k_up)
    );
    for (from, to) in [("closed", "open"), ("open", "half_open"), ("half_open", "closed")] {
        assert!(m("kafka", from, to) >= 1.0, "kafka {from}→{to} missing from /metrics");
    }
    // Events: exactly once, or accounted as overflow.
    assert!(queued > 0, "no event went through the outbox");
    assert!(!overflowed.is_empty(), "the outbox never overflowed: the test did not exercise it");
    assert!(missing.is_empty(), "accepted events never delivered: {:?}", &missing[..missing.len().min(10)]);
    assert!(
        duplicated.is_empty(),
        "events delivered more than once: {:?}",
        &duplicated[..duplicated.len().min(10)]
    );
    assert!(
        unknown.is_empty(),
        "delivered events nobody accepted (overflowed ones included): {:?}",
        &unknown[..unknown.len().min(10)]
    );
    assert_eq!(overflow_metric as usize, overflowed.len(), "overflow metric");
    // Every refusal is in the metric; the log has its count in at most one line per second (the
    // refusals after the last line wait for the next one).
    assert!(
        overflow_logged <= overflowed.len(),
        "overflow log counts {overflow_logged} > {}",
        overflowed.len()
    );
    assert!(
        overflowed.is_empty() || overflow_logged >= 1,
        "no overflow line for {} refusals",
        overflowed.len()
    );
    assert!(
        overflow_lines.len() <= 1 + overflowed.len().min(120),
        "{} overflow lines for {} refusals: not aggregated",
        overflow_lines.len(),
        overflowed.len()
    );
    // Admin endpoints.
    assert_eq!(c.admin, [401, 401, 200, 200, 404, 404]);
    assert_eq!(c.admin_states, ["closed", "forced_open", "closed"].map(String::from));
    assert!(m("database", "closed", "forced_open") >= 1.0 && m("database", "forced_open", "closed") >= 1.0);
    let _ = (db_opens, k_opens);
}
