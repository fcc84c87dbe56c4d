//! `/metrics`: the drivers' counters (feature `metrics` of corelane-postgres and
//! corelane-redis) in Prometheus text format, through `metrics-exporter-prometheus`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::reply::{self, Reply};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder, so `/metrics` has
/// something to show. Call it once, before the clients are used (their counters register
/// when first used on each worker). Without it, `/metrics` answers 404.
pub fn install() -> Result<(), metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    // The recorder keeps histogram samples until upkeep folds them in; without a tokio
    // runtime of its own nothing else runs it.
    let upkeep = handle.clone();
    let _ = std::thread::Builder::new()
        .name("prometheus-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            upkeep.run_upkeep();
        });
    let _ = HANDLE.set(handle);
    Ok(())
}

/// The page (404 when [`install`] was not called).
pub(crate) fn page() -> Reply {
    match HANDLE.get() {
        Some(handle) => reply::ok(reply::PROMETHEUS, handle.render()),
        None => reply::not_found(),
    }
}
