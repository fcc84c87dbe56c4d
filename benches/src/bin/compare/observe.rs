//! Feature `observe`: the drivers built with `metrics` and `tracing`, so a run shows what
//! observability costs. `CORELANE_OBSERVE` picks what is installed: `both` (the default: a
//! Prometheus recorder and a tracing subscriber that wants every span and event at INFO),
//! `metrics`, `tracing`, or `none` (compiled in, nothing listening). Without the feature:
//! nothing (both compiled out).

/// Installs what `CORELANE_OBSERVE` asks for; describes it, for the report header.
#[cfg(feature = "observe")]
pub fn install() -> Result<String, Box<dyn std::error::Error>> {
    use tracing_subscriber::layer::SubscriberExt;
    let choice = std::env::var("CORELANE_OBSERVE").unwrap_or_else(|_| "both".to_owned());
    let (metrics, tracing) = match choice.as_str() {
        "both" => (true, true),
        "metrics" => (true, false),
        "tracing" => (false, true),
        "none" => (false, false),
        other => {
            return Err(
                format!("CORELANE_OBSERVE={other}: use both, metrics, tracing or none").into(),
            )
        }
    };
    if metrics {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
        std::thread::Builder::new()
            .name("prometheus-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                handle.run_upkeep();
            })?;
    }
    if tracing {
        // A registry (span storage, as every real subscriber has) with an INFO filter and no
        // output: the cost of making and recording spans, not of writing them anywhere.
        let subscriber =
            tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO);
        tracing::subscriber::set_global_default(subscriber)?;
    }
    Ok(format!(
        "drivers built with metrics + tracing; CORELANE_OBSERVE={choice}: Prometheus recorder {}, tracing registry subscriber at INFO {}",
        if metrics { "installed" } else { "not installed" },
        if tracing { "installed (spans made and recorded, nothing written)" } else { "not installed" }
    ))
}

/// Nothing is installed: the features are compiled out.
#[cfg(not(feature = "observe"))]
pub fn install() -> Result<String, Box<dyn std::error::Error>> {
    Ok("off (metrics/tracing compiled out; build with --features observe)".to_owned())
}
