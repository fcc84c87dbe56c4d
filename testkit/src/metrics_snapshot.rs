//! A `metrics` recorder for tests, and lookups into what it kept.

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

/// `(kind, name, sorted labels)` → value.
type Seen = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

/// What the process-wide recorder has kept, read at one moment.
#[derive(Debug)]
pub struct MetricsSnapshot {
    seen: Seen,
    /// Labels every lookup adds (e.g. `db_system`, `worker`).
    base: Vec<(String, String)>,
}

/// Reads the process-wide recorder installed by [`install_metrics_recorder`].
#[derive(Debug)]
pub struct MetricsReader(Snapshotter);

/// Installs a recorder that keeps every metric as the process-wide one (once per test binary).
pub fn install_metrics_recorder(
) -> Result<MetricsReader, metrics::SetRecorderError<DebuggingRecorder>> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install()?;
    Ok(MetricsReader(snapshotter))
}

fn sorted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

impl MetricsReader {
    /// Everything recorded so far; lookups add the labels `base` to theirs.
    pub fn snapshot(&self, base: &[(&str, &str)]) -> MetricsSnapshot {
        let seen = self
            .0
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (kind, key) = key.into_parts();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                ((kind, key.name().to_owned(), labels), value)
            })
            .collect();
        MetricsSnapshot {
            seen,
            base: sorted(base),
        }
    }
}

impl MetricsSnapshot {
    fn get(&self, kind: MetricKind, name: &str, extra: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut labels = self.base.clone();
        labels.extend(sorted(extra));
        labels.sort();
        self.seen.get(&(kind, name.to_owned(), labels))
    }

    /// A counter's value (0 when never registered).
    pub fn counter(&self, name: &str, extra: &[(&str, &str)]) -> u64 {
        match self.get(MetricKind::Counter, name, extra) {
            Some(DebugValue::Counter(n)) => *n,
            _ => 0,
        }
    }

    /// How many values a histogram holds (0 when never registered).
    pub fn histogram_len(&self, name: &str) -> usize {
        match self.get(MetricKind::Histogram, name, &[]) {
            Some(DebugValue::Histogram(values)) => values.len(),
            _ => 0,
        }
    }

    /// A gauge's value, if it was ever set.
    pub fn gauge(&self, name: &str, extra: &[(&str, &str)]) -> Option<f64> {
        match self.get(MetricKind::Gauge, name, extra) {
            Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
            _ => None,
        }
    }

    /// Every metric's name and label keys.
    pub fn names_and_label_keys(&self) -> Vec<(String, Vec<String>)> {
        self.seen
            .keys()
            .map(|(_, name, labels)| {
                (
                    name.clone(),
                    labels.iter().map(|(k, _)| k.clone()).collect(),
                )
            })
            .collect()
    }
}
