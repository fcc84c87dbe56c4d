//! A `tracing` subscriber for tests: keeps every span (with the fields it was given and later
//! recorded) and every event, so a test can assert what a workload traced.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Field name → value (as text: strings bare, everything else in `Debug` form).
pub type Fields = BTreeMap<String, String>;

/// A span that was created (and possibly closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSpan {
    /// The span's static name.
    pub name: String,
    /// Its fields, from creation and later `record` calls.
    pub fields: Fields,
    /// Whether it has closed (every handle dropped).
    pub closed: bool,
}

/// An event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The event's level, e.g. `WARN`.
    pub level: String,
    /// Its target, e.g. `corelane::client`.
    pub target: String,
    /// Its fields; the message is under `message`.
    pub fields: Fields,
}

#[derive(Default)]
struct Seen {
    spans: Vec<RecordedSpan>,
    /// `Id::into_u64()` → index in `spans`, for live spans.
    live: BTreeMap<u64, usize>,
    events: Vec<RecordedEvent>,
}

/// What has been traced so far; clone it to read while the subscriber runs.
#[derive(Clone, Default)]
pub struct TraceRecorder {
    seen: Arc<Mutex<Seen>>,
}

impl std::fmt::Debug for TraceRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceRecorder")
            .field("spans", &self.spans().len())
            .field("events", &self.events().len())
            .finish()
    }
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl TraceRecorder {
    /// Installs a recorder as the process-wide default subscriber (once per test binary: a
    /// second call fails).
    pub fn install_global() -> Result<TraceRecorder, tracing::subscriber::SetGlobalDefaultError> {
        let recorder = TraceRecorder::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        tracing::subscriber::set_global_default(subscriber)?;
        Ok(recorder)
    }

    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every span so far, in creation order.
    pub fn spans(&self) -> Vec<RecordedSpan> {
        self.lock().spans.clone()
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.lock().events.clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        let mut seen = self.lock();
        seen.spans.clear();
        seen.live.clear();
        seen.events.clear();
    }
}

impl<S> Layer<S> for TraceRecorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        let mut seen = self.lock();
        seen.spans.push(RecordedSpan {
            name: attrs.metadata().name().to_owned(),
            fields,
            closed: false,
        });
        let index = seen.spans.len() - 1;
        seen.live.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut seen = self.lock();
        if let Some(&index) = seen.live.get(&id.into_u64()) {
            if let Some(span) = seen.spans.get_mut(index) {
                values.record(&mut Visitor(&mut span.fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let meta = event.metadata();
        self.lock().events.push(RecordedEvent {
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            fields,
        });
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut seen = self.lock();
        if let Some(index) = seen.live.remove(&id.into_u64()) {
            if let Some(span) = seen.spans.get_mut(index) {
                span.closed = true;
            }
        }
    }
}
