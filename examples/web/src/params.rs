//! The `q` query parameter, as the benchmark rules read it.

/// The most rows one request may ask for.
pub(crate) const MAX_QUERIES: usize = 500;

/// `q` from a query string, clamped to `1..=500`; missing, empty or not a number is 1.
pub(crate) fn queries(query: Option<&str>) -> usize {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("q="));
    match value.and_then(|v| v.parse::<i64>().ok()) {
        Some(n) => usize::try_from(n.clamp(1, MAX_QUERIES as i64)).unwrap_or(1),
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::queries;

    #[test]
    fn clamps_and_defaults_as_the_rules_say() {
        assert_eq!(queries(None), 1);
        assert_eq!(queries(Some("")), 1);
        assert_eq!(queries(Some("q=")), 1);
        assert_eq!(queries(Some("q=abc")), 1);
        assert_eq!(queries(Some("q=0")), 1);
        assert_eq!(queries(Some("q=-5")), 1);
        assert_eq!(queries(Some("q=7")), 7);
        assert_eq!(queries(Some("x=1&q=20")), 20);
        assert_eq!(queries(Some("q=500")), 500);
        assert_eq!(queries(Some("q=1000")), 500);
        assert_eq!(queries(Some("q=99999999999999999999")), 1);
    }
}
