//! Feature `observe`: the drivers built with `metrics` and `tracing`, a Prometheus recorder
//! installed and a tracing subscriber that wants every span and event at INFO, so a run shows
//! what observability costs when it is on. Without the feature: nothing (both compiled out).

/// Installs the recorder and the subscriber; describes what is on, for the report header.
#[cfg(feature = "observe")]
pub fn install() -> Result<&'static str, Box<dyn std::error::Error>> {
    use tracing_subscriber::layer::SubscriberExt;
    metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    // A registry (span storage, as every real subscriber has) with an INFO filter and no
    // output: the cost of making and recording spans, not of writing them anywhere.
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber)?;
    Ok("ON: drivers built with metrics + tracing; Prometheus recorder installed; tracing registry subscriber at INFO (spans made and recorded, nothing written)")
}

/// Nothing is installed: the features are compiled out.
#[cfg(not(feature = "observe"))]
pub fn install() -> Result<&'static str, Box<dyn std::error::Error>> {
    Ok("off (features metrics/tracing not compiled in; build with --features observe)")
}
