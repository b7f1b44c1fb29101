//! # The breaker-tokio demo service
//!
//! The seed's application, for real: an HTTP service that keeps answering while its
//! PostgreSQL database and its Kafka broker fail, behind the seed's two breakers.
//!
//! ```sh
//! cargo run -p breaker-demo -- \
//!     --database-url postgres://postgres@127.0.0.1:5432/postgres --kafka-brokers 127.0.0.1:9092 \
//!     --admin-token change-me
//! ```
//!
//! | endpoint | what it does |
//! |---|---|
//! | `GET /items/{id}` | reads through the **database** breaker; while it is open (or the read fails) answers from the last good value (`"source": "cache"`, `x-degraded: database`), or `503` with `Retry-After` if there is none |
//! | `PUT /items/{id}` `{"value": "..."}` | writes through the database breaker (`503` + `Retry-After` while open), then publishes an `item_updated` event |
//! | `POST /events` `{"id": "...", ...}` | publishes the event through the **kafka** breaker: `202` with `"delivery": "published"` or `"queued"` (the outbox, delivered after recovery), or `503` with `"delivery": "overflow"` when the outbox is full (logged and counted) |
//! | `GET /health/detailed` | the seed's shape: `status`, one entry per breaker, the outbox, and the read cache's bytes; with sharing on, `fleet` (breaker-redis' `FleetHealth`: `replica`, `degraded`, per breaker `local_state`, `fleet_state`, `voters`, `local_override`, and `stats`) |
//! | `GET /metrics` | Prometheus text: breaker state, calls, transitions; outbox counters; with sharing on, the `circuit_breaker_fleet_*` series |
//! | `POST /admin/breakers/{name}/{force_open,force_closed,reset}[?scope=fleet\|local]` | manual control, with `Authorization: Bearer <ADMIN_TOKEN>`; `401` without it or with a wrong one (compared in constant time); without a configured token the endpoints do not exist (`404`). The answer: `name`, `action`, `scope` (`fleet` or `local`), `circuit_breaker` (the local state after it), and for the fleet scope `fleet` (`propagated`, or `pending` with a `warning` while Redis is unreachable) |
//!
//! Against clients that misbehave (see `server.rs` for the table): header, body and
//! whole-request timeouts, a body size limit, a connection limit below the descriptor limit
//! (raised at start where allowed), graceful shutdown with a deadline. Against a dependency
//! that hangs while clients give up: each handler's dependency work runs on its own task to its
//! own timeout, so the breaker counts the timeout instead of a dropped call. Client data the
//! database refuses (a NUL byte, a constraint) is a `422`, never a `503`. Logs never carry the
//! database password, client values are escaped and truncated, and outbox refusals are one line
//! per second with a count (`logs.rs`). The read cache is bounded in bytes (`CACHE_BYTES`).
//!
//! ## Fleet
//!
//! With `REDIS_URL` and `REPLICA_ID`, both breakers are shared with the other replicas through
//! Redis (breaker-redis, `fleet.rs`), in `FLEET_MODE` (default `quorum:2`: two replicas
//! tripping within `FLEET_WINDOW_MS` open every replica; also `any`, `share:<percent>`,
//! `counts:<failures>`), with fleet-wide probe leases if `FLEET_PROBE_LEASES` is above 0.
//! Calls never wait on Redis; Redis down leaves each replica on its own breakers (`fleet.degraded`
//! in health). Admin commands go through the fleet by default, so they reach every replica:
//! applied here at once, on the others when they get the record; while Redis is unreachable they
//! are applied here, answered `200` with `"fleet": "pending"`, and written when Redis is back.
//! `?scope=local` acts on this replica alone: a forced state is then a local override, which
//! fleet records do not change until a local reset. Without `REDIS_URL` nothing is shared and
//! every command is local (`?scope=fleet` is a `400`). At SIGTERM the fleet's task stops after
//! the server and the outbox's last flush.
//!
//! ```sh
//! cargo run -p breaker-demo -- --admin-token change-me \
//!     --redis-url redis://127.0.0.1:6379/ --replica-id api-1 --fleet-mode quorum:2
//! ```
//!
//! Settings: `--help`, or `config.rs`. Every one is checked at start: a zero timeout, an empty
//! broker list or an out-of-range number is refused with the setting's name.

mod config;
mod db;
mod events;
mod fleet;
mod logs;
mod outbox;
mod server;
#[cfg(test)]
mod test_redis;

use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breaker_tokio::Config as BreakerConfig;
use breaker_tokio::{RegistryError, TimedCallError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::db::{Database, DbError, LastGood};
use crate::events::{Delivery, Event, Events, OutboxLimits};
use crate::fleet::{Action, Sharing};

/// Everything the handlers share.
struct App {
    registry: Arc<breaker_tokio::Registry>,
    db: Database,
    /// One breaker per tenant (`GET /tenants/{tenant}/items/{id}`), family `tenant`.
    tenants: Arc<breaker_tokio::Keyed<String>>,
    last_good: LastGood,
    events: Arc<Events>,
    prometheus: PrometheusHandle,
    admin_token: Option<String>,
    /// The breakers shared across replicas through Redis (`REDIS_URL`); `None`: not shared.
    fleet: Option<Sharing>,
    /// For ids of the events the service makes itself (`item_updated`).
    boot_ms: u128,
    event_seq: AtomicU64,
}

fn router(app: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/items/{id}", get(get_item).put(put_item))
        .route("/tenants/{tenant}/items/{id}", get(get_tenant_item))
        .route("/events", post(post_event))
        .route("/health/detailed", get(health))
        .route("/metrics", get(metrics));
    // No token configured: the admin endpoints are off, not open.
    if app.admin_token.is_some() {
        router = router.route("/admin/breakers/{name}/{action}", post(admin));
    }
    router.with_state(app)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn with_retry_after(mut response: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `Retry-After` for a failed database call through `breaker` (the database's or a tenant's):
/// when the breaker rejected it, the rejection's
/// (1 s when that depends on events rather than time: a probe in flight, or forced open);
/// when the call ran and failed, the breaker's remaining open time if that failure opened it
/// (none while it is still closed: nothing says when to retry).
fn retry_after(breaker: &breaker_tokio::Breaker, error: &DbError) -> Option<u64> {
    match error {
        TimedCallError::Open(open) => Some(open.retry_after().map_or(1, whole_seconds)),
        _ => breaker.snapshot().retry_after.map(whole_seconds),
    }
}

/// A `Retry-After` value: whole seconds, rounded up, at least 1.
fn whole_seconds(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The answer for a read the database could not serve: the last good value if there is one,
/// else a clear degraded `503`. `Retry-After` while the breaker is open.
fn read_fallback(app: &App, id: i64, error: &DbError) -> Response {
    let retry_after = retry_after(app.db.breaker(), error);
    let reason = error.to_string();
    let mut response = match app.last_good.get(id) {
        Some(value) => json_response(
            StatusCode::OK,
            json!({"id": id, "value": value, "source": "cache", "degraded": true, "reason": reason}),
        ),
        None => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "id": id, "error": "database unavailable", "source": "none", "degraded": true,
                "reason": reason, "retry_after_seconds": retry_after,
            }),
        ),
    };
    response.headers_mut().insert("x-degraded", HeaderValue::from_static("database"));
    with_retry_after(response, retry_after)
}

/// Runs a handler's dependency work on its own task, so a client that gives up does not cancel
/// it: the call runs to its own timeout and the breaker learns from it. (A call dropped
/// half-way counts as neither success nor failure, unless it was out longer than the breaker's
/// `count_abandoned_after`, which the demo also sets as a second line.) The server-side deadline (`REQUEST_TIMEOUT_MS`) bounds
/// what the client waits; the call's timeout bounds the work.
///
/// While `breaker` rejects calls there is nothing to detach (the rejection is immediate), so the
/// work runs inline and the rejection path pays no task spawn.
async fn detached<T: Send + 'static>(
    breaker: &breaker_tokio::Breaker,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    if breaker.state().rejects_calls() {
        return work.await;
    }
    match tokio::spawn(work).await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: the runtime is shutting down, and this request with it.
            Err(_) => std::future::pending().await,
        },
    }
}

/// The client's data was refused by the database (SQLSTATE classes 22 and 23: the breaker
/// counted it as neither): a `422` naming the problem, not a `503`.
fn client_data_error(error: &DbError) -> Option<Response> {
    let TimedCallError::Inner(e) = error else { return None };
    let code = e.code()?;
    matches!(&code.code()[..2], "22" | "23").then(|| {
        json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "the database refused the data", "sqlstate": code.code()}),
        )
    })
}

/// A value the database cannot store: PostgreSQL's `TEXT` has no NUL byte.
fn invalid_value(value: &str) -> Option<Response> {
    value.contains('\0').then(|| {
        json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "`value` must not contain a NUL byte"}),
        )
    })
}

async fn get_item(State(app): State<Arc<App>>, Path(id): Path<i64>) -> Response {
    detached(app.db.breaker(), get_item_detached(Arc::clone(&app), id)).await
}

async fn get_item_detached(app: Arc<App>, id: i64) -> Response {
    match app.db.get(id).await {
        Ok(Some(value)) => {
            app.last_good.put(id, &value);
            json_response(StatusCode::OK, json!({"id": id, "value": value, "source": "database"}))
        }
        Ok(None) => json_response(
            StatusCode::NOT_FOUND,
            json!({"id": id, "error": "not found", "source": "database"}),
        ),
        Err(e) => client_data_error(&e).unwrap_or_else(|| read_fallback(&app, id, &e)),
    }
}

/// The keyed family of the per-tenant reads.
const TENANT_FAMILY: &str = "tenant";

/// The longest tenant name accepted (`400` above it, or with other characters than ASCII
/// letters, digits, `-` and `_`): a name is a breaker's key, a log field and a metric label.
const MAX_TENANT_LEN: usize = 64;

fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_LEN
        && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /tenants/{tenant}/items/{id}`: the item read through the tenant's own breaker (family
/// `tenant`), so one tenant whose reads fail (a hung query, a broken partition) is cut off
/// without the others. Tenants come from clients: past `TENANT_MAX_KEYS` the family keeps its
/// OPEN, HALF_OPEN and recently used breakers, evicts an idle CLOSED one if there is one, and
/// otherwise gives the new tenant the family's shared overflow breaker (key `(overflow)`), so a
/// flood of made-up tenants cannot evict an open breaker, go unguarded, or grow the metrics.
/// No cache fallback: a failed read is a `503`, with `Retry-After` while the breaker is open.
async fn get_tenant_item(State(app): State<Arc<App>>, Path((tenant, id)): Path<(String, i64)>) -> Response {
    if !valid_tenant(&tenant) {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("a tenant is 1 to {MAX_TENANT_LEN} ASCII letters, digits, `-` or `_`")}),
        );
    }
    let breaker = match app.tenants.breaker_or_overflow(&tenant) {
        Ok(b) => b,
        Err(e) => {
            return json_response(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e.to_string()}));
        }
    };
    let work_breaker = Arc::clone(&breaker);
    let work_app = Arc::clone(&app);
    let result = detached(&breaker, async move { work_app.db.get_through(&work_breaker, id).await }).await;
    let key = breaker.key().unwrap_or_default().to_owned();
    match result {
        Ok(Some(value)) => json_response(
            StatusCode::OK,
            json!({"tenant": tenant, "id": id, "value": value, "source": "database", "breaker_key": key}),
        ),
        Ok(None) => json_response(
            StatusCode::NOT_FOUND,
            json!({"tenant": tenant, "id": id, "error": "not found", "breaker_key": key}),
        ),
        Err(e) => client_data_error(&e).unwrap_or_else(|| {
            let retry_after = retry_after(&breaker, &e);
            let response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "tenant": tenant, "id": id, "error": "database unavailable for this tenant",
                    "reason": e.to_string(), "breaker_key": key, "retry_after_seconds": retry_after,
                }),
            );
            with_retry_after(response, retry_after)
        }),
    }
}

#[derive(serde::Deserialize)]
struct ItemBody {
    value: String,
}

async fn put_item(State(app): State<Arc<App>>, Path(id): Path<i64>, Json(body): Json<ItemBody>) -> Response {
    if let Some(refused) = invalid_value(&body.value) {
        return refused;
    }
    detached(app.db.breaker(), put_item_detached(Arc::clone(&app), id, body)).await
}

/// The write and its event, run to the end even if the client leaves: a committed write always
/// gets its event published or queued.
async fn put_item_detached(app: Arc<App>, id: i64, body: ItemBody) -> Response {
    match app.db.put(id, &body.value).await {
        Ok(()) => {
            app.last_good.put(id, &body.value);
            let seq = app.event_seq.fetch_add(1, Ordering::Relaxed);
            let event_id = format!("item-{id}-{}-{seq}", app.boot_ms);
            let payload = json!({"id": event_id, "type": "item_updated", "item": id, "value": body.value});
            let delivery = app
                .events
                .publish(Event { id: event_id.clone(), body: payload.to_string().into_bytes() })
                .await;
            let mut event = json!({"id": event_id, "delivery": delivery.as_str()});
            if delivery == Delivery::Overflow {
                event["error"] = json!("the write is applied, but its event was refused: the outbox is full");
            }
            let mut response = json_response(
                StatusCode::OK,
                json!({"id": id, "value": body.value, "source": "database", "event": event}),
            );
            if delivery == Delivery::Overflow {
                response.headers_mut().insert("x-degraded", HeaderValue::from_static("kafka"));
            }
            response
        }
        Err(e) => {
            if let Some(refused) = client_data_error(&e) {
                return refused;
            }
            let retry_after = retry_after(app.db.breaker(), &e);
            let response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "id": id, "error": "database unavailable: the write was not applied",
                    "degraded": true, "reason": e.to_string(), "retry_after_seconds": retry_after,
                }),
            );
            with_retry_after(response, retry_after)
        }
    }
}

async fn post_event(State(app): State<Arc<App>>, Json(body): Json<Value>) -> Response {
    let Some(id) = body.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "an event needs a string `id`"}),
        );
    };
    let event = Event { id: id.clone(), body: body.to_string().into_bytes() };
    let events = Arc::clone(&app.events);
    let delivery = detached(app.events.breaker(), async move { events.publish(event).await }).await;
    match delivery {
        Delivery::Published | Delivery::Queued => {
            json_response(StatusCode::ACCEPTED, json!({"id": id, "delivery": delivery.as_str()}))
        }
        Delivery::Overflow => {
            let retry_after = app.events.breaker().snapshot().retry_after.map(|d| d.as_secs().max(1));
            let response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "id": id, "delivery": "overflow",
                    "error": "kafka unavailable and the outbox is full: the event was not accepted",
                }),
            );
            with_retry_after(response, retry_after.or(Some(1)))
        }
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let mut body = serde_json::to_value(app.registry.health()).unwrap_or_else(|_| json!({}));
    let outbox = app.events.stats();
    let closed = app.registry.health().breakers.iter().all(|h| h.state == breaker_tokio::State::Closed);
    if let Value::Object(map) = &mut body {
        let status = if closed && outbox.queued == 0 { "healthy" } else { "degraded" };
        map.insert("status".into(), json!(status));
        map.insert("outbox".into(), json!(outbox));
        map.insert(
            "cache".into(),
            json!({"bytes": app.last_good.bytes(), "max_bytes": app.last_good.max_bytes()}),
        );
        // The fleet's view (absent without sharing). It does not change `status`: that is this
        // replica's own breakers, which are what its calls go through.
        if let Some(sharing) = &app.fleet {
            if let Some(fleet) = sharing.health().await {
                map.insert("fleet".into(), serde_json::to_value(fleet).unwrap_or_else(|_| json!({})));
            }
        }
    }
    json_response(StatusCode::OK, body)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.registry.refresh_metrics();
    app.prometheus.run_upkeep();
    (
        [(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))],
        app.prometheus.render(),
    )
        .into_response()
}

/// `Authorization: Bearer <token>`, compared in constant time (the comparison does not stop at
/// the first differing byte; only the length is not hidden).
fn authorized(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers.get(AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")) else {
        return false;
    };
    given.ct_eq(expected.as_bytes()).into()
}

/// Where an admin command applies: `?scope=fleet` (the default with sharing on) or
/// `?scope=local` (the default, and the only scope, without it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Fleet,
    Local,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Fleet => "fleet",
            Scope::Local => "local",
        }
    }
}

/// The `scope` query parameter: `None` when absent, `Err` with the value for another one.
fn scope_param(uri: &Uri) -> Result<Option<Scope>, String> {
    let Some(query) = uri.query() else { return Ok(None) };
    let mut scope = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "scope" {
            scope = Some(match value {
                "fleet" => Scope::Fleet,
                "local" => Scope::Local,
                other => return Err(other.to_owned()),
            });
        }
    }
    Ok(scope)
}

/// `POST /admin/breakers/{name}/{action}[?scope=fleet|local]`.
///
/// With sharing on, the command goes through the fleet by default (`scope: "fleet"`): applied
/// on this replica at once, then on every replica when they get the record. `?scope=local`
/// acts on this replica's breaker alone: a force is a **local override** (fleet records leave
/// the breaker alone until a local reset, and fleet health shows `local_override`).
///
/// When Redis cannot be reached, a fleet command is still applied here (breaker-redis applies
/// it locally before it talks to Redis) and written to Redis when it is back, unless a newer
/// command replaces it. The answer is then `200` (the breaker did change: answering `503`
/// would invite a retry of something done) with `"fleet": "pending"` and a `warning`, so the
/// operator knows the other replicas do not have it yet; `"fleet": "propagated"` when Redis
/// took it. A fleet whose task has stopped (only while shutting down) is a `503`.
async fn admin(
    State(app): State<Arc<App>>,
    Path((name, action)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(expected) = app.admin_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized(&headers, expected) {
        tracing::warn!(
            breaker = %logs::untrusted(&name),
            action = %logs::untrusted(&action),
            "admin request refused: missing or wrong token"
        );
        let mut response =
            json_response(StatusCode::UNAUTHORIZED, json!({"error": "missing or wrong bearer token"}));
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let Some(command) = Action::parse(&action) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": "actions are force_open, force_closed and reset"}),
        );
    };
    let scope = match scope_param(&uri) {
        Ok(Some(Scope::Fleet)) if app.fleet.is_none() => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "scope=fleet: the breakers are not shared (no REDIS_URL)"}),
            )
        }
        Ok(Some(scope)) => scope,
        Ok(None) if app.fleet.is_some() => Scope::Fleet,
        Ok(None) => Scope::Local,
        Err(other) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("scope is `fleet` or `local`, not `{}`", other.escape_debug())}),
            )
        }
    };
    let breaker = match app.registry.get(&name) {
        Ok(b) => b,
        Err(RegistryError::Unknown { .. }) => return unknown_breaker(&name),
        Err(e) => return json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    };
    let mut body = json!({"name": name, "action": action, "scope": scope.as_str()});
    let mut status = StatusCode::OK;
    match (scope, &app.fleet) {
        (Scope::Fleet, Some(sharing)) => match sharing.control(&name, command).await {
            Ok(()) => body["fleet"] = json!("propagated"),
            Err(breaker_redis::FleetError::Unknown(_)) => return unknown_breaker(&name),
            Err(e @ breaker_redis::FleetError::NotPropagated(_)) => {
                tracing::warn!(breaker = %name, action = %action, error = %e, "admin: applied here, not yet on the fleet");
                body["fleet"] = json!("pending");
                body["warning"] = json!(e.to_string());
            }
            Err(e) => {
                tracing::error!(breaker = %name, action = %action, error = %e, "admin: the fleet command failed");
                status = StatusCode::SERVICE_UNAVAILABLE;
                body["fleet"] = json!("failed");
                body["error"] = json!(e.to_string());
            }
        },
        _ => {
            let result = match command {
                Action::ForceOpen => app.registry.force_open(&name),
                Action::ForceClosed => app.registry.force_closed(&name),
                Action::Reset => app.registry.reset(&name),
            };
            if let Err(e) = result {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}));
            }
        }
    }
    // Both known (checked above): safe to log as they are.
    tracing::warn!(breaker = %name, action = %action, scope = scope.as_str(), "admin: breaker controlled manually");
    body["circuit_breaker"] = json!(breaker.state().as_str());
    json_response(status, body)
}

fn unknown_breaker(name: &str) -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"error": format!("no circuit breaker named '{name}'")}))
}

/// Logs to stdout: INFO and above, except the Kafka client's per-retry chatter (WARN and above).
fn init_logs(json: bool) {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("rskafka", LevelFilter::WARN);
    let fmt = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::io::stdout);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// Builds the application: the metrics recorder first (breakers register their metrics when
/// built), then the registry with the two breakers, the database and the event publisher.
fn build(config: &Config, prometheus: PrometheusHandle) -> Result<Arc<App>, String> {
    let counter = fleet::counter_for(config.fleet.as_ref());
    let mut registry = breaker_tokio::registry();
    if let Some(counter) = &counter {
        registry = registry.listener(counter.clone());
    }
    let registry = registry
        .configure(
            "database",
            BreakerConfig::new()
                .failure_threshold(config.db_failure_threshold)
                .recovery_timeout(config.db_recovery_timeout)
                // A call dropped after its own timeout is a hung database (see `detached`).
                .count_abandoned_after(config.db_timeout),
        )
        .configure(
            "kafka",
            BreakerConfig::new()
                .failure_threshold(config.kafka_failure_threshold)
                .recovery_timeout(config.kafka_recovery_timeout)
                .count_abandoned_after(config.kafka_timeout),
        )
        .configure(
            TENANT_FAMILY,
            BreakerConfig::new()
                .failure_threshold(config.tenant_failure_threshold)
                .recovery_timeout(config.tenant_recovery_timeout)
                .count_abandoned_after(config.db_timeout),
        )
        .bounds(TENANT_FAMILY, config.tenant_max_keys, config.tenant_idle)
        .build()
        .map_err(|e| e.to_string())?;
    let registry = Arc::new(registry);
    let tenants = registry.keyed::<String>(TENANT_FAMILY).map_err(|e| e.to_string())?;
    let db = Database::new(
        &config.database_url,
        registry.breaker("database").map_err(|e| e.to_string())?,
        config.db_timeout,
    )
    .map_err(|e| format!("DATABASE_URL: {e}"))?;
    let queue = match &config.outbox_path {
        Some(path) => {
            let queue = crate::outbox::Queue::open(path)
                .map_err(|e| format!("OUTBOX_PATH: {}: {e}", path.display()))?;
            if !queue.is_empty() {
                tracing::info!(
                    events = queue.len(),
                    bytes = queue.bytes(),
                    "outbox: events from the last run, to deliver"
                );
            }
            queue
        }
        None => crate::outbox::Queue::memory(),
    };
    let events = Arc::new(Events::new(
        config.kafka_brokers.clone(),
        config.kafka_topic.clone(),
        registry.breaker("kafka").map_err(|e| e.to_string())?,
        config.kafka_timeout,
        OutboxLimits {
            max_events: config.outbox_capacity,
            max_bytes: config.outbox_bytes,
            batch_bytes: config.batch_bytes,
        },
        queue,
    ));
    let fleet = match &config.fleet {
        Some(settings) => {
            let shared = fleet::SHARED
                .iter()
                .map(|&name| registry.breaker(name).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            Some(Sharing::start(settings, &shared, counter)?)
        }
        None => None,
    };
    Ok(Arc::new(App {
        registry,
        db,
        tenants,
        last_good: LastGood::new(config.cache_bytes),
        events,
        prometheus,
        admin_token: config.admin_token.clone(),
        fleet,
        boot_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
        event_seq: AtomicU64::new(0),
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::load(|n| std::env::var(n).ok(), std::env::args().skip(1)) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    init_logs(config.log_json);
    // Series idle this long are dropped: an evicted tenant's go, live breakers' are refreshed
    // on every scrape (`Registry::refresh_metrics`), so the page stays bounded in a key flood.
    let prometheus = match PrometheusBuilder::new()
        .idle_timeout(metrics_util::MetricKindMask::ALL, Some(config.metrics_idle))
        .install_recorder()
    {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    let app = match build(&config, prometheus) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "bad configuration");
            return ExitCode::from(2);
        }
    };
    let nofile = server::raise_descriptor_limit();
    let limits = server::Limits {
        header_read_timeout: config.header_read_timeout,
        body_timeout: config.body_timeout,
        request_timeout: config.request_timeout,
        max_body_bytes: config.max_body_bytes,
        max_connections: nofile
            .map_or(config.max_connections, |n| server::connection_limit(config.max_connections, n)),
        shutdown_grace: config.shutdown_grace,
    };
    if limits.max_connections < config.max_connections {
        tracing::warn!(
            wanted = config.max_connections,
            allowed = limits.max_connections,
            descriptors = nofile,
            "MAX_CONNECTIONS lowered to fit the descriptor limit"
        );
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, listen = %config.listen, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(Arc::clone(&app.events).run_outbox(stopped, config.shutdown_grace));
    tracing::info!(
        listen = %config.listen,
        database = %logs::redact_url(&config.database_url),
        max_connections = limits.max_connections,
        kafka = ?config.kafka_brokers,
        admin = if config.admin_token.is_some() { "on" } else { "off" },
        fleet = if config.fleet.is_some() { "on" } else { "off" },
        replica = config.fleet.as_ref().map_or("", |f| f.replica_id.as_str()),
        redis = %config.fleet.as_ref().map_or(String::new(), |f| logs::redact_url(&f.redis_url)),
        fleet_mode = %config.fleet.as_ref().map_or(String::new(), |f| format!("{:?}", f.mode)),
        probe_leases = %config.fleet.as_ref().and_then(|f| f.probe_leases).map_or(String::new(), |(n, lease)| format!("{n} ({lease:?})")),
        "breaker demo service ready"
    );
    server::serve(listener, router(Arc::clone(&app)), limits, shutdown_signal()).await;
    let _ = stop.send(true);
    let _ = outbox.await;
    // After the server and the outbox's last flush (which goes through the kafka breaker, so
    // the fleet keeps sharing until then).
    if let Some(fleet) = &app.fleet {
        fleet.shutdown().await;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Duration;
    use tower::ServiceExt;

    fn app(token: Option<&str>) -> Arc<App> {
        // Nothing listens there: the tests below never reach a dependency.
        app_with(token, "postgres://postgres@127.0.0.1:1/postgres", &[])
    }

    fn app_with(token: Option<&str>, database_url: &str, settings: &[(&str, &str)]) -> Arc<App> {
        app_recording(token, database_url, settings, PrometheusBuilder::new().build_recorder().handle())
    }

    /// As [`app_with`], with its `/metrics` rendered from `prometheus`.
    fn app_recording(
        token: Option<&str>,
        database_url: &str,
        settings: &[(&str, &str)],
        prometheus: PrometheusHandle,
    ) -> Arc<App> {
        let settings: Vec<(String, String)> =
            settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let config = Config::load(
            |n| match n {
                "DATABASE_URL" => Some(database_url.to_owned()),
                "KAFKA_BROKERS" => Some("127.0.0.1:1".into()),
                "ADMIN_TOKEN" => token.map(str::to_owned),
                // In memory unless a test gives a file.
                "OUTBOX_PATH" => Some(
                    settings
                        .iter()
                        .find(|(k, _)| k == "OUTBOX_PATH")
                        .map_or(String::new(), |(_, v)| v.clone()),
                ),
                _ => settings.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
            },
            Vec::new(),
        )
        .unwrap();
        build(&config, prometheus).unwrap()
    }

    /// The process's global recorder (installed once): the fleet's task records its series
    /// through the `metrics` facade, as in the service, where `main` installs it.
    fn global_prometheus() -> PrometheusHandle {
        static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
        HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap()).clone()
    }

    /// `POST /admin/breakers/{path}` with the token `t`: the status and the JSON answer.
    async fn admin_json(app: &Arc<App>, path: &str) -> (StatusCode, Value) {
        let req = Request::post(format!("/admin/breakers/{path}"))
            .header(AUTHORIZATION, "Bearer t")
            .body(Body::empty())
            .unwrap();
        let answer = router(Arc::clone(app)).oneshot(req).await.unwrap();
        let status = answer.status();
        (status, body_json(answer).await)
    }

    async fn body_json(answer: Response) -> Value {
        let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    async fn get_json(app: &Arc<App>, path: &str) -> Value {
        let answer =
            router(Arc::clone(app)).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        body_json(answer).await
    }

    async fn get_text(app: &Arc<App>, path: &str) -> String {
        let answer =
            router(Arc::clone(app)).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let bytes = axum::body::to_bytes(answer.into_body(), 16 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Polls `f` every 10 ms until it is true; panics after `within`.
    async fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !f() {
            assert!(start.elapsed() < within, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn admin_call(app: &Arc<App>, auth: Option<&str>) -> StatusCode {
        let mut req = Request::post("/admin/breakers/kafka/force_open");
        if let Some(auth) = auth {
            req = req.header(AUTHORIZATION, auth);
        }
        let req = req.body(Body::empty()).unwrap();
        router(Arc::clone(app)).oneshot(req).await.unwrap().status()
    }

    /// A PostgreSQL that accepts connections and never answers: SIGSTOP'd, or hung.
    async fn hung_database() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("postgres://postgres@{}/postgres", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        (url, task)
    }

    #[tokio::test]
    async fn clients_that_give_up_first_still_teach_the_breaker_about_a_hung_database() {
        let (url, _db) = hung_database().await;
        let app = app_with(None, &url, &[("DB_TIMEOUT_MS", "200"), ("DB_FAILURE_THRESHOLD", "3")]);
        let breaker = app.db.breaker();
        for id in 0..3 {
            // The client leaves after 20 ms, long before the call's 200 ms timeout.
            let req = Request::get(format!("/items/{id}")).body(Body::empty()).unwrap();
            let gave_up =
                tokio::time::timeout(Duration::from_millis(20), router(Arc::clone(&app)).oneshot(req)).await;
            assert!(gave_up.is_err(), "the hung database answered");
        }
        // The calls ran on to their timeout: three failures, and the breaker is open.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(breaker.state(), breaker_tokio::State::Open);
        // From now on a request is answered at once, without waiting on the database.
        let start = std::time::Instant::now();
        let req = Request::get("/items/9").body(Body::empty()).unwrap();
        let answer = router(Arc::clone(&app)).oneshot(req).await.unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer.headers().contains_key(RETRY_AFTER));
        assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn a_tenant_flood_neither_evicts_an_open_tenant_breaker_nor_grows_the_family() {
        let (url, _db) = hung_database().await;
        let app = app_with(
            None,
            &url,
            &[
                ("DB_TIMEOUT_MS", "100"),
                ("TENANT_FAILURE_THRESHOLD", "2"),
                ("TENANT_MAX_KEYS", "8"),
                ("TENANT_IDLE_MS", "60000"),
            ],
        );
        let get =
            |path: String| router(Arc::clone(&app)).oneshot(Request::get(path).body(Body::empty()).unwrap());
        for _ in 0..2 {
            assert_eq!(
                get("/tenants/acme/items/1".into()).await.unwrap().status(),
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
        let acme = app.tenants.breaker("acme").unwrap();
        assert_eq!(acme.state(), breaker_tokio::State::Open);
        // The database breaker is another breaker: the tenant's failures did not count there.
        assert_eq!(app.db.breaker().health().failure_count, 0);
        // 50 made-up tenants, every one answered (their reads fail too: a hung database).
        let flood: Vec<_> = (0..50).map(|n| tokio::spawn(get(format!("/tenants/t{n}/items/1")))).collect();
        for answer in flood {
            assert_eq!(answer.await.unwrap().unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        // Bounded: 8 tenants and the shared overflow breaker; acme kept, OPEN, still rejecting.
        assert_eq!(app.tenants.len(), 8);
        let family = app.registry.health().families.into_iter().find(|f| f.name == "tenant").unwrap();
        assert_eq!(family.breakers.len(), 9);
        assert_eq!(app.tenants.breaker("acme").unwrap().state(), breaker_tokio::State::Open);
        let start = std::time::Instant::now();
        let answer = get("/tenants/acme/items/1".into()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer.headers().contains_key(RETRY_AFTER));
        assert!(start.elapsed() < Duration::from_millis(50), "{:?}", start.elapsed());
        let body = body_json(answer).await;
        assert_eq!(body["breaker_key"], "acme");
        // A tenant name that is not a name is the client's error, and makes no breaker.
        for bad in ["/tenants/a%20b/items/1", "/tenants/%1B%5B31m/items/1"] {
            assert_eq!(get(bad.into()).await.unwrap().status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        let long = format!("/tenants/{}/items/1", "x".repeat(MAX_TENANT_LEN + 1));
        assert_eq!(get(long).await.unwrap().status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.tenants.len(), 8);
    }

    #[tokio::test]
    async fn a_value_with_a_nul_byte_is_the_clients_error_not_the_databases() {
        let app = app(None);
        let req = Request::put("/items/1")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"value": "a\u0000b"}"#))
            .unwrap();
        let answer = router(Arc::clone(&app)).oneshot(req).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // The database was never called: nothing counted either way.
        assert_eq!(app.db.breaker().health().failure_count, 0);
    }

    #[tokio::test]
    async fn admin_endpoints_need_the_token() {
        let app = app(Some("s3cret"));
        assert_eq!(admin_call(&app, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(admin_call(&app, Some("Bearer wrong")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(admin_call(&app, Some("Bearer s3cret2")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(admin_call(&app, Some("Basic s3cret")).await, StatusCode::UNAUTHORIZED);
        let kafka = app.registry.breaker("kafka").unwrap();
        assert_eq!(kafka.state(), breaker_tokio::State::Closed);
        assert_eq!(admin_call(&app, Some("Bearer s3cret")).await, StatusCode::OK);
        assert_eq!(kafka.state(), breaker_tokio::State::ForcedOpen);
    }

    #[tokio::test]
    async fn without_a_token_the_admin_endpoints_do_not_exist() {
        let app = app(None);
        assert_eq!(admin_call(&app, Some("Bearer anything")).await, StatusCode::NOT_FOUND);
        assert_eq!(app.registry.breaker("kafka").unwrap().state(), breaker_tokio::State::Closed);
    }

    #[test]
    fn every_rejection_carries_a_retry_after() {
        let app = app(None);
        let half_open = TimedCallError::Open(breaker_tokio::CircuitOpen::new(
            "database",
            breaker_tokio::State::HalfOpen,
            None,
        ));
        assert_eq!(retry_after(app.db.breaker(), &half_open), Some(1));
        let open = TimedCallError::Open(breaker_tokio::CircuitOpen::new(
            "database",
            breaker_tokio::State::Open,
            Some(Duration::from_millis(2_500)),
        ));
        assert_eq!(retry_after(app.db.breaker(), &open), Some(3));
    }

    #[tokio::test]
    async fn reads_fall_back_while_the_database_breaker_is_open() {
        let app = app(None);
        app.last_good.put(1, "cached");
        app.db.breaker().force_open();
        let get = |path: &'static str| {
            router(Arc::clone(&app)).oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        let cached = get("/items/1").await.unwrap();
        assert_eq!(cached.status(), StatusCode::OK);
        assert_eq!(cached.headers()["x-degraded"], "database");
        let none = get("/items/2").await.unwrap();
        assert_eq!(none.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn events_are_queued_while_the_kafka_breaker_is_open_and_overflow_is_refused() {
        let app = app(None);
        app.events.breaker().force_open();
        let events = &app.events;
        let mut outcomes = Vec::new();
        for n in 0..3 {
            let delivery = events.publish(Event { id: format!("e{n}"), body: b"{}".to_vec() }).await;
            outcomes.push(delivery);
        }
        assert_eq!(outcomes, [Delivery::Queued; 3]);
        assert_eq!(events.stats().queued, 3);
        // A small outbox overflows, and says so.
        let small = Events::new(
            vec!["127.0.0.1:1".into()],
            "events".into(),
            events.breaker(),
            Duration::from_millis(100),
            OutboxLimits { max_events: 1, max_bytes: 1 << 20, batch_bytes: 1 << 20 },
            crate::outbox::Queue::memory(),
        );
        let first = small.publish(Event { id: "a".into(), body: Vec::new() }).await;
        let second = small.publish(Event { id: "b".into(), body: Vec::new() }).await;
        assert_eq!((first, second), (Delivery::Queued, Delivery::Overflow));
    }

    #[tokio::test]
    async fn without_sharing_admin_commands_are_local_and_health_has_no_fleet() {
        let app = app(Some("t"));
        let (status, body) = admin_json(&app, "kafka/force_open").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"name": "kafka", "action": "force_open", "scope": "local", "circuit_breaker": "forced_open"})
        );
        let (status, body) = admin_json(&app, "kafka/reset?scope=local").await;
        assert_eq!(
            (status, &body["scope"], &body["circuit_breaker"]),
            (StatusCode::OK, &json!("local"), &json!("closed"))
        );
        // No fleet to reach: said, not silently done locally.
        let (status, body) = admin_json(&app, "kafka/force_open?scope=fleet").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = admin_json(&app, "kafka/force_open?scope=everywhere").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(app.events.breaker().state(), breaker_tokio::State::Closed);
        let (status, _) = admin_json(&app, "nope/force_open").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = admin_json(&app, "kafka/open_sesame").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let health = get_json(&app, "/health/detailed").await;
        assert!(health.get("fleet").is_none(), "{health}");
        assert_eq!(health["status"], "healthy");
    }

    #[tokio::test]
    async fn with_redis_unreachable_a_fleet_command_applies_here_and_says_it_is_pending() {
        // Nothing listens on port 1: the fleet is degraded from the start.
        let settings = [("REDIS_URL", "redis://:s3cret@127.0.0.1:1/"), ("REPLICA_ID", "api-1")];
        let app = app_with(Some("t"), "postgres://postgres@127.0.0.1:1/postgres", &settings);
        let (status, body) = admin_json(&app, "database/force_open").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((&body["scope"], &body["fleet"]), (&json!("fleet"), &json!("pending")));
        assert_eq!(body["circuit_breaker"], "forced_open");
        assert!(body["warning"].as_str().unwrap().contains("Redis is unreachable"), "{body}");
        assert_eq!(app.db.breaker().state(), breaker_tokio::State::ForcedOpen);
        let (status, _) = admin_json(&app, "nope/reset").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let health = get_json(&app, "/health/detailed").await;
        assert_eq!(health["fleet"]["replica"], "api-1");
        assert_eq!(health["fleet"]["degraded"], true);
        assert_eq!(health["fleet"]["breakers"].as_array().unwrap().len(), 2);
        assert!(!health.to_string().contains("s3cret"));
        // The top-level status is this replica's breakers', as without sharing.
        assert_eq!(health["status"], "degraded");
        app.fleet.as_ref().unwrap().shutdown().await;
        let (status, body) = admin_json(&app, "database/reset").await;
        assert_eq!((status, &body["fleet"]), (StatusCode::SERVICE_UNAVAILABLE, &json!("failed")));
    }

    #[tokio::test]
    async fn counts_mode_starts_with_its_failure_counter() {
        let settings =
            [("REDIS_URL", "redis://127.0.0.1:1/"), ("REPLICA_ID", "api-1"), ("FLEET_MODE", "counts:10")];
        let app = app_with(None, "postgres://postgres@127.0.0.1:1/postgres", &settings);
        let health = get_json(&app, "/health/detailed").await;
        assert_eq!(health["fleet"]["breakers"][0]["mode"], "counts");
        // Probe leases and a poll interval are taken too.
        let settings = [
            ("REDIS_URL", "redis://127.0.0.1:1/"),
            ("REPLICA_ID", "api-1"),
            ("FLEET_PROBE_LEASES", "1"),
            ("FLEET_POLL_MS", "20"),
        ];
        let app = app_with(None, "postgres://postgres@127.0.0.1:1/postgres", &settings);
        assert!(app.fleet.is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_share_manual_control_through_redis_and_a_local_override_stays_local() {
        let Some(redis) = test_redis::RedisServer::start() else { return };
        let url = redis.url();
        let replica = |id: &'static str| {
            let settings = [("REDIS_URL", url.as_str()), ("REPLICA_ID", id)];
            app_recording(
                Some("t"),
                "postgres://postgres@127.0.0.1:1/postgres",
                &settings,
                global_prometheus(),
            )
        };
        let (a, b) = (replica("replica-a"), replica("replica-b"));
        for app in [&a, &b] {
            let sharing = app.fleet.as_ref().unwrap();
            let mut connected = false;
            for _ in 0..500 {
                if sharing.health().await.is_some_and(|h| !h.degraded) {
                    connected = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(connected, "the fleet did not reach Redis within 5 s");
        }
        let (a_db, b_db) = (a.db.breaker(), b.db.breaker());
        let (a_kafka, b_kafka) = (a.events.breaker(), b.events.breaker());

        // Through the fleet: here at once, on the other replica within a second.
        let (status, body) = admin_json(&a, "database/force_open").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((&body["scope"], &body["fleet"]), (&json!("fleet"), &json!("propagated")));
        assert_eq!(a_db.state(), breaker_tokio::State::ForcedOpen);
        eventually(Duration::from_secs(1), "B's database breaker forced open", || {
            b_db.state() == breaker_tokio::State::ForcedOpen
        })
        .await;
        let health = get_json(&b, "/health/detailed").await;
        let fleet = &health["fleet"];
        assert_eq!((&fleet["replica"], &fleet["degraded"]), (&json!("replica-b"), &json!(false)), "{health}");
        let database =
            fleet["breakers"].as_array().unwrap().iter().find(|h| h["name"] == "database").unwrap();
        assert_eq!(database["fleet_state"], "forced_open", "{health}");
        assert_eq!(database["local_state"], "forced_open", "{health}");
        assert_eq!(database["mode"], "quorum");

        // Local scope: A alone, a local override.
        let (status, body) = admin_json(&a, "kafka/force_open?scope=local").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "local");
        assert!(body.get("fleet").is_none(), "{body}");
        assert_eq!(a_kafka.state(), breaker_tokio::State::ForcedOpen);
        // A later fleet command reaches B: by then B would have had the local one if it were sent.
        let (status, _) = admin_json(&a, "database/reset").await;
        assert_eq!(status, StatusCode::OK);
        eventually(Duration::from_secs(1), "B's database breaker reset", || {
            b_db.state() == breaker_tokio::State::Closed
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(b_kafka.state(), breaker_tokio::State::Closed);
        assert_eq!(a_kafka.state(), breaker_tokio::State::ForcedOpen);
        let mut overridden = false;
        for _ in 0..100 {
            let health = get_json(&a, "/health/detailed").await;
            let kafka = health["fleet"]["breakers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["name"] == "kafka")
                .cloned();
            if kafka.is_some_and(|k| k["local_override"] == true) {
                overridden = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(overridden, "A's health shows its local override of kafka");

        // The fleet's series are in /metrics, through the recorder the service installs.
        let metrics = get_text(&a, "/metrics").await;
        for series in ["circuit_breaker_fleet_degraded", "circuit_breaker_fleet_transitions_published_total"]
        {
            assert!(metrics.contains(series), "{series} missing from:\n{metrics}");
        }
        for app in [&a, &b] {
            app.fleet.as_ref().unwrap().shutdown().await;
        }
        drop(redis);
    }
}
