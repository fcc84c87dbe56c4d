//! The client-side cache's URL query parameters (`client_cache*`).

use std::time::Duration;

use super::CacheConfig;
use crate::{Config, Error};

/// Applies `key=value` if it is a cache parameter (`Ok(false)`: not one). Any of them but
/// `client_cache=false` turns caching on; `client_cache=false` turns it off whatever else
/// the URL says, wherever it stands (see [`finish`]).
pub(crate) fn apply(
    key: &str,
    value: &str,
    config: &mut Config,
    off: &mut bool,
) -> Result<bool, Error> {
    let number = || -> Result<u64, Error> {
        value
            .parse()
            .map_err(|_| Error::config(format!("bad {key} {value:?} in URL query")))
    };
    match key {
        "client_cache" => match value {
            "true" | "1" | "yes" | "on" => {
                cache(config);
            }
            "false" | "0" | "no" | "off" => *off = true,
            _ => {
                return Err(Error::config(format!(
                    "bad client_cache {value:?} in URL query (true or false)"
                )))
            }
        },
        "client_cache_max_entries" => cache(config).max_entries = number()? as usize,
        "client_cache_max_bytes" => cache(config).max_bytes = number()? as usize,
        "client_cache_ttl_ms" => cache(config).ttl = Some(Duration::from_millis(number()?)),
        "client_cache_bcast" => {
            cache(config).broadcast = Some(
                value
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn cache(config: &mut Config) -> &mut CacheConfig {
    config.cache.get_or_insert_with(CacheConfig::default)
}

/// After the whole query: `client_cache=false` wins.
pub(crate) fn finish(config: &mut Config, off: bool) {
    if off {
        config.cache = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters() {
        let c = Config::from_url("redis://h/0?client_cache=true").unwrap();
        assert_eq!(c.get_client_side_cache(), Some(&CacheConfig::default()));
        let c = Config::from_url(
            "redis://h?client_cache_max_entries=5&client_cache_max_bytes=1000&\
             client_cache_ttl_ms=1500&client_cache_bcast=user:,session:",
        )
        .unwrap();
        let cache = c.get_client_side_cache().unwrap();
        assert_eq!(cache.max_entries, 5);
        assert_eq!(cache.max_bytes, 1000);
        assert_eq!(cache.ttl, Some(Duration::from_millis(1500)));
        assert_eq!(
            cache.broadcast.as_deref(),
            Some(&["user:".to_owned(), "session:".to_owned()][..])
        );
        let c = Config::from_url("redis://h?client_cache_bcast=").unwrap();
        assert_eq!(c.get_client_side_cache().unwrap().broadcast, Some(vec![]));
        let c =
            Config::from_url("redis://h?client_cache_max_entries=5&client_cache=false").unwrap();
        assert!(c.get_client_side_cache().is_none());
        assert!(Config::from_url("redis://h")
            .unwrap()
            .get_client_side_cache()
            .is_none());
        assert!(Config::from_url("redis://h?client_cache=maybe")
            .unwrap_err()
            .is_config());
        assert!(Config::from_url("redis://h?client_cache_max_entries=x")
            .unwrap_err()
            .is_config());
    }
}
