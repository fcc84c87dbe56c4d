//! What every stack shares: the benchmark's rules as plain functions (no I/O), so the corelane
//! service and its peers (`corelane_web::peer`, `corelane_web::xitca`) answer with the same
//! bytes.

use std::fmt::Write;

/// One row of `World`, serialized as the rules spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct World {
    /// 1..=10000.
    pub id: i32,
    /// 1..=10000.
    #[serde(rename = "randomNumber")]
    pub random_number: i32,
}

/// Rows in `World`, numbered from 1.
pub const WORLD_ROWS: i32 = 10_000;

/// The `Server` header of both stacks' replies.
pub const SERVER: &str = "corelane";
/// `Content-Type` of `/plaintext`.
pub const TEXT: &str = "text/plain";
/// `Content-Type` of the JSON endpoints.
pub const JSON: &str = "application/json";
/// `Content-Type` of `/fortunes`.
pub const HTML: &str = "text/html; charset=utf-8";

/// The body of `/plaintext`, and the message of `/json`.
pub const HELLO: &str = "Hello, World!";

/// The object `/json` answers with.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Message {
    /// [`HELLO`].
    pub message: &'static str,
}

/// `{"message":"Hello, World!"}`.
pub const HELLO_MESSAGE: Message = Message { message: HELLO };

/// A random row id.
pub fn random_id() -> i32 {
    fastrand::i32(1..=WORLD_ROWS)
}

/// `n` random row ids, repeats allowed.
pub fn random_ids(n: usize) -> Vec<i32> {
    (0..n).map(|_| random_id()).collect()
}

/// `n` distinct random row ids (for updates: a row updated twice in one statement would keep
/// only one of the two numbers the reply shows). `n` is at most 500 of 10,000.
pub fn distinct_ids(n: usize) -> Vec<i32> {
    let n = n.min(WORLD_ROWS as usize);
    let mut ids: Vec<i32> = Vec::with_capacity(n);
    while ids.len() < n {
        let id = random_id();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Gives every row of `rows` a new random number, and returns their ids and new numbers in
/// ascending id order: the order every stack writes them back in, so concurrent updates lock
/// the rows they share in one order (no deadlock).
pub fn renumber(rows: &mut [World]) -> (Vec<i32>, Vec<i32>) {
    for row in rows.iter_mut() {
        row.random_number = random_id();
    }
    let mut sorted = rows.to_vec();
    sorted.sort_unstable_by_key(|w| w.id);
    sorted.iter().map(|w| (w.id, w.random_number)).unzip()
}

/// The Redis key caching row `id`.
pub fn cache_key(id: i32) -> String {
    format!("world:{id}")
}

/// The most rows one request may ask for.
pub const MAX_QUERIES: usize = 500;

/// `q` from a query string, clamped to `1..=500`; missing, empty or not a number is 1.
pub fn queries(query: Option<&str>) -> usize {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("q="));
    match value.and_then(|v| v.parse::<i64>().ok()) {
        Some(n) => usize::try_from(n.clamp(1, MAX_QUERIES as i64)).unwrap_or(1),
        None => 1,
    }
}

/// The row every `/fortunes` request adds before sorting.
pub const EXTRA_FORTUNE: (i32, &str) = (0, "Additional fortune added at request time.");

/// The `/fortunes` page: `rows` plus [`EXTRA_FORTUNE`], sorted by message, HTML-escaped.
pub fn fortunes_page(mut rows: Vec<(i32, String)>) -> String {
    rows.push((EXTRA_FORTUNE.0, EXTRA_FORTUNE.1.to_owned()));
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    render(&rows)
}

fn render(fortunes: &[(i32, String)]) -> String {
    let mut html = String::with_capacity(2048);
    html.push_str(
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>\
         <tr><th>id</th><th>message</th></tr>",
    );
    for (id, message) in fortunes {
        // Writing to a String cannot fail.
        let _ = write!(html, "<tr><td>{id}</td><td>");
        escape_into(&mut html, message);
        html.push_str("</td></tr>");
    }
    html.push_str("</table></body></html>");
    html
}

/// HTML-escapes `text` onto `out` (the five characters that matter in text and attributes).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn escapes_markup_and_keeps_other_text() {
        let mut out = String::new();
        escape_into(
            &mut out,
            r#"<script>alert("x's & y");</script> フレームワーク"#,
        );
        assert_eq!(
            out,
            "&lt;script&gt;alert(&quot;x&#x27;s &amp; y&quot;);&lt;/script&gt; フレームワーク"
        );
    }

    #[test]
    fn renders_rows_in_the_given_order() {
        let html = render(&[(2, "a<b".into()), (1, "c".into())]);
        assert!(html.contains("<tr><td>2</td><td>a&lt;b</td></tr><tr><td>1</td><td>c</td></tr>"));
        assert!(html.starts_with("<!DOCTYPE html>"));
    }
}
