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
        let num = |name: &str| -> Result<u64, String> {
            get(name).parse::<u64>().map_err(|e| format!("{name}: {e}"))
        };
        let ms = |name: &str| num(name).map(Duration::from_millis);
        let token = get("ADMIN_TOKEN");
        Ok(Config {
            listen: get("LISTEN").parse().map_err(|e| format!("LISTEN: {e}"))?,
            database_url: get("DATABASE_URL"),
            kafka_brokers: get("KAFKA_BROKERS")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            kafka_topic: get("KAFKA_TOPIC"),
            admin_token: (!token.is_empty()).then_some(token),
            db_failure_threshold: u32::try_from(num("DB_FAILURE_THRESHOLD")?).map_err(|e| e.to_string())?,
            db_recovery_timeout: ms("DB_RECOVERY_TIMEOUT_MS")?,
            db_timeout: ms("DB_TIMEOUT_MS")?,
            kafka_failure_threshold: u32::try_from(num("KAFKA_FAILURE_THRESHOLD")?)
                .map_err(|e| e.to_string())?,
            kafka_recovery_timeout: ms("KAFKA_RECOVERY_TIMEOUT_MS")?,
            kafka_timeout: ms("KAFKA_TIMEOUT_MS")?,
            outbox_capacity: usize::try_from(num("OUTBOX_CAPACITY")?).map_err(|e| e.to_string())?,
            log_json: match get("LOG_FORMAT").as_str() {
                "json" => true,
                "text" => false,
                other => return Err(format!("LOG_FORMAT: `{other}` is neither `text` nor `json`")),
            },
        })
    }
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
}
