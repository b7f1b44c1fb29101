//! Configuration: environment variables, each overridable by a command-line flag of the same
//! name in lower case with dashes (`DB_RECOVERY_TIMEOUT_MS=3000` or
//! `--db-recovery-timeout-ms 3000`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Every setting, with its default and meaning.
pub(crate) const SETTINGS: &[(&str, &str, &str)] = &[
    ("LISTEN", "127.0.0.1:8080", "address the HTTP server listens on"),
    ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL connection URL"),
    ("KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated"),
    ("KAFKA_TOPIC", "events", "topic events are published to"),
    ("ADMIN_TOKEN", "", "bearer token of the admin endpoints; empty: the endpoints are off (404)"),
    ("DB_FAILURE_THRESHOLD", "5", "database breaker: consecutive failures that open it"),
    ("DB_RECOVERY_TIMEOUT_MS", "60000", "database breaker: open time before a probe"),
    ("DB_TIMEOUT_MS", "2000", "timeout of one database call (connection included)"),
    ("KAFKA_FAILURE_THRESHOLD", "3", "kafka breaker: consecutive failures that open it"),
    ("KAFKA_RECOVERY_TIMEOUT_MS", "30000", "kafka breaker: open time before a probe"),
    ("KAFKA_TIMEOUT_MS", "2000", "timeout of one publish (connection included)"),
    ("OUTBOX_CAPACITY", "10000", "events kept for later delivery while Kafka is unavailable"),
    ("OUTBOX_PATH", "breaker-demo-outbox.sqlite3", "SQLite file the outbox is kept in, so queued events survive a restart or a crash; empty: in memory only"),
    ("OUTBOX_BYTES", "67108864", "bytes of events (ids and bodies) the outbox keeps at most"),
    ("BATCH_BYTES", "1000000", "bytes per outbox delivery at most (under the broker's message.max.bytes)"),
    ("CACHE_BYTES", "67108864", "bytes of last good values kept for reads while the database is down"),
    ("MAX_BODY_BYTES", "65536", "largest request body accepted (`413` above it)"),
    (
        "HEADER_READ_TIMEOUT_MS",
        "5000",
        "time a client has to send a request's headers, and to start the next one on a kept-alive connection",
    ),
    ("BODY_TIMEOUT_MS", "5000", "time a client has to send a request's body"),
    ("REQUEST_TIMEOUT_MS", "10000", "server-side deadline of a whole request (`408` past it)"),
    ("MAX_CONNECTIONS", "1000", "open client connections at most (lowered to fit the descriptor limit)"),
    ("SHUTDOWN_GRACE_MS", "5000", "at SIGTERM: time for open requests to finish and for the outbox to flush"),
    ("LOG_FORMAT", "text", "`text` or `json` (one JSON object per line)"),
];

/// The service's configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) database_url: String,
    pub(crate) kafka_brokers: Vec<String>,
    pub(crate) kafka_topic: String,
    pub(crate) admin_token: Option<String>,
    pub(crate) db_failure_threshold: u32,
    pub(crate) db_recovery_timeout: Duration,
    pub(crate) db_timeout: Duration,
    pub(crate) kafka_failure_threshold: u32,
    pub(crate) kafka_recovery_timeout: Duration,
    pub(crate) kafka_timeout: Duration,
    pub(crate) outbox_capacity: usize,
    pub(crate) outbox_path: Option<std::path::PathBuf>,
    pub(crate) outbox_bytes: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) cache_bytes: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) log_json: bool,
}

impl Config {
    /// Reads the environment, then `args` (flags override variables).
    pub(crate) fn load(
        env: impl Fn(&str) -> Option<String>,
        args: impl IntoIterator<Item = String>,
    ) -> Result<Config, String> {
        let mut values: HashMap<&'static str, String> = HashMap::new();
        for &(name, default, _) in SETTINGS {
            values.insert(name, env(name).unwrap_or_else(|| default.to_owned()));
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(help());
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let name = flag
                .strip_prefix("--")
                .map(|f| f.replace('-', "_").to_uppercase())
                .and_then(|n| SETTINGS.iter().find(|s| s.0 == n).map(|s| s.0))
                .ok_or_else(|| format!("unknown argument `{arg}`\n\n{}", help()))?;
            let value = match inline {
                Some(v) => v,
                None => args.next().ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            values.insert(name, value);
        }
        let get = |name: &str| values[name].clone();
        let token = get("ADMIN_TOKEN");
        let kafka_brokers = brokers(&get("KAFKA_BROKERS"))?;
        let topic = get("KAFKA_TOPIC");
        if topic.trim().is_empty() {
            return Err("KAFKA_TOPIC: must not be empty".into());
        }
        Ok(Config {
            listen: get("LISTEN").parse().map_err(|e| format!("LISTEN: {e}"))?,
            database_url: get("DATABASE_URL"),
            kafka_brokers,
            kafka_topic: topic,
            admin_token: (!token.is_empty()).then_some(token),
            db_failure_threshold: positive("DB_FAILURE_THRESHOLD", &get("DB_FAILURE_THRESHOLD"))?,
            db_recovery_timeout: millis("DB_RECOVERY_TIMEOUT_MS", &get("DB_RECOVERY_TIMEOUT_MS"))?,
            db_timeout: millis("DB_TIMEOUT_MS", &get("DB_TIMEOUT_MS"))?,
            kafka_failure_threshold: positive("KAFKA_FAILURE_THRESHOLD", &get("KAFKA_FAILURE_THRESHOLD"))?,
            kafka_recovery_timeout: millis("KAFKA_RECOVERY_TIMEOUT_MS", &get("KAFKA_RECOVERY_TIMEOUT_MS"))?,
            kafka_timeout: millis("KAFKA_TIMEOUT_MS", &get("KAFKA_TIMEOUT_MS"))?,
            outbox_capacity: positive("OUTBOX_CAPACITY", &get("OUTBOX_CAPACITY"))?,
            outbox_path: Some(get("OUTBOX_PATH"))
                .filter(|p| !p.trim().is_empty())
                .map(std::path::PathBuf::from),
            outbox_bytes: positive("OUTBOX_BYTES", &get("OUTBOX_BYTES"))?,
            batch_bytes: positive("BATCH_BYTES", &get("BATCH_BYTES"))?,
            cache_bytes: positive("CACHE_BYTES", &get("CACHE_BYTES"))?,
            max_body_bytes: positive("MAX_BODY_BYTES", &get("MAX_BODY_BYTES"))?,
            header_read_timeout: millis("HEADER_READ_TIMEOUT_MS", &get("HEADER_READ_TIMEOUT_MS"))?,
            body_timeout: millis("BODY_TIMEOUT_MS", &get("BODY_TIMEOUT_MS"))?,
            request_timeout: millis("REQUEST_TIMEOUT_MS", &get("REQUEST_TIMEOUT_MS"))?,
            max_connections: positive("MAX_CONNECTIONS", &get("MAX_CONNECTIONS"))?,
            shutdown_grace: millis("SHUTDOWN_GRACE_MS", &get("SHUTDOWN_GRACE_MS"))?,
            log_json: match get("LOG_FORMAT").as_str() {
                "json" => true,
                "text" => false,
                other => {
                    return Err(format!(
                        "LOG_FORMAT: `{}` is neither `text` nor `json`",
                        other.escape_debug()
                    ))
                }
            },
        })
    }
}

/// A whole number of `T` from 1 up, or an error naming the setting.
fn positive<T: TryFrom<u64> + Copy>(name: &str, value: &str) -> Result<T, String> {
    let max = u64::MAX;
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: `{}` is not a whole number from 1 to {max}", value.escape_debug()))?;
    if n == 0 {
        return Err(format!("{name}: must be at least 1"));
    }
    T::try_from(n).map_err(|_| format!("{name}: {n} is too large"))
}

/// A positive duration in milliseconds, or an error naming the setting: a zero timeout would
/// fail every call (or never recover), so it is refused rather than taken.
fn millis(name: &str, value: &str) -> Result<Duration, String> {
    positive::<u64>(name, value).map(Duration::from_millis)
}

/// `host:port` entries, comma-separated, at least one.
fn brokers(value: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> =
        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if list.is_empty() {
        return Err("KAFKA_BROKERS: needs at least one `host:port`".into());
    }
    if let Some(bad) = list
        .iter()
        .find(|b| b.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()))
    {
        return Err(format!("KAFKA_BROKERS: `{}` is not `host:port`", bad.escape_debug()));
    }
    Ok(list)
}

/// The usage text.
pub(crate) fn help() -> String {
    let mut s = String::from(
        "breaker-tokio demo service: PostgreSQL and Kafka behind the seed's two circuit breakers\n\n\
         Settings (environment variable, or the flag in lower case with dashes):\n",
    );
    for (name, default, meaning) in SETTINGS {
        let flag = name.to_lowercase().replace('_', "-");
        s.push_str(&format!("  {name:<26} --{flag:<26} {meaning} [default: {default}]\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let c = Config::load(|_| None, Vec::new()).unwrap();
        assert_eq!((c.db_failure_threshold, c.db_recovery_timeout), (5, Duration::from_secs(60)));
        assert_eq!((c.kafka_failure_threshold, c.kafka_recovery_timeout), (3, Duration::from_secs(30)));
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn flags_override_the_environment() {
        let env = |n: &str| (n == "DB_RECOVERY_TIMEOUT_MS").then(|| "1000".to_owned());
        let args = ["--db-recovery-timeout-ms", "3000", "--admin-token=s3cret"].map(String::from);
        let c = Config::load(env, args).unwrap();
        assert_eq!(c.db_recovery_timeout, Duration::from_secs(3));
        assert_eq!(c.admin_token.as_deref(), Some("s3cret"));
        assert!(Config::load(|_| None, ["--nope".to_owned()]).is_err());
    }

    fn error_for(name: &str, value: &str) -> String {
        let (name, value) = (name.to_owned(), value.to_owned());
        Config::load(move |n| (n == name).then(|| value.clone()), Vec::new()).unwrap_err()
    }

    #[test]
    fn settings_that_would_fail_forever_are_refused_and_named() {
        assert_eq!(error_for("DB_TIMEOUT_MS", "0"), "DB_TIMEOUT_MS: must be at least 1");
        assert_eq!(error_for("KAFKA_TIMEOUT_MS", "0"), "KAFKA_TIMEOUT_MS: must be at least 1");
        assert_eq!(error_for("KAFKA_BROKERS", ","), "KAFKA_BROKERS: needs at least one `host:port`");
        assert_eq!(error_for("KAFKA_BROKERS", "a:1,nope"), "KAFKA_BROKERS: `nope` is not `host:port`");
        assert_eq!(
            error_for("DB_FAILURE_THRESHOLD", "4294967296"),
            "DB_FAILURE_THRESHOLD: 4294967296 is too large"
        );
        assert_eq!(error_for("DB_FAILURE_THRESHOLD", "0"), "DB_FAILURE_THRESHOLD: must be at least 1");
        assert!(error_for("REQUEST_TIMEOUT_MS", "-1")
            .starts_with("REQUEST_TIMEOUT_MS: `-1` is not a whole number"));
        assert!(error_for("MAX_CONNECTIONS", "0").starts_with("MAX_CONNECTIONS:"));
        assert!(error_for("KAFKA_TOPIC", " ").starts_with("KAFKA_TOPIC:"));
        // Values are escaped in the message: a terminal never sees the raw bytes.
        assert_eq!(
            error_for("LOG_FORMAT", "x\u{1b}[31m"),
            "LOG_FORMAT: `x\\u{1b}[31m` is neither `text` nor `json`"
        );
    }
}
