//! Shared helpers for the integration tests: a `tracing` layer that captures events.
#![allow(dead_code, clippy::std_instead_of_core)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A captured field value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl Value {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    pub(crate) fn as_u64(&self) -> u64 {
        match self {
            Value::U64(v) => *v,
            Value::I64(v) => u64::try_from(*v).expect("non-negative"),
            other => panic!("not an integer: {other:?}"),
        }
    }
    pub(crate) fn as_f64(&self) -> f64 {
        match self {
            Value::F64(v) => *v,
            other => panic!("not a float: {other:?}"),
        }
    }
}

/// One captured event.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    pub(crate) level: Level,
    pub(crate) target: String,
    pub(crate) message: String,
    pub(crate) fields: BTreeMap<String, Value>,
}

impl Captured {
    pub(crate) fn field(&self, name: &str) -> &Value {
        self.fields.get(name).unwrap_or_else(|| panic!("no field `{name}` in {self:?}"))
    }
    pub(crate) fn names(&self) -> Vec<&str> {
        self.fields.keys().map(String::as_str).collect()
    }
}

#[derive(Default)]
struct Visitor {
    message: String,
    fields: BTreeMap<String, Value>,
}

impl Visit for Visitor {
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.fields.insert(f.name().into(), Value::F64(v));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.fields.insert(f.name().into(), Value::I64(v));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.fields.insert(f.name().into(), Value::U64(v));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.fields.insert(f.name().into(), Value::Bool(v));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.fields.insert(f.name().into(), Value::Str(v.into()));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        if f.name() == "message" {
            self.message = format!("{v:?}");
        } else {
            self.fields.insert(f.name().into(), Value::Str(format!("{v:?}")));
        }
    }
}

/// Collects every event into a shared list.
#[derive(Clone, Default)]
pub(crate) struct Capture(pub(crate) Arc<Mutex<Vec<Captured>>>);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut v = Visitor::default();
        event.record(&mut v);
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: v.message,
            fields: v.fields,
        });
    }
}

/// Runs `f` with a capturing subscriber as this thread's default; returns what `f` returned
/// and the events logged with target `breaker_std`.
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Captured>) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let r = tracing::subscriber::with_default(subscriber, f);
    let events =
        capture.0.lock().unwrap().iter().filter(|e| e.target == breaker_std::LOG_TARGET).cloned().collect();
    (r, events)
}
