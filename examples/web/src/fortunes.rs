//! `/fortunes`: the table, one row added per request, sorted by message, escaped HTML.

use std::fmt::Write;

use crate::world::DataError;

/// The row every request adds before sorting.
const EXTRA: (i32, &str) = (0, "Additional fortune added at request time.");

/// The whole page.
pub(crate) async fn page(pg: &corelane_postgres::Client) -> Result<String, DataError> {
    let rows = pg.query("SELECT id, message FROM fortune", &[]).await?;
    let mut fortunes: Vec<(i32, String)> = Vec::with_capacity(rows.len() + 1);
    for row in &rows {
        fortunes.push((row.get(0)?, row.get(1)?));
    }
    fortunes.push((EXTRA.0, EXTRA.1.to_owned()));
    fortunes.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(render(&fortunes))
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
pub(crate) fn escape_into(out: &mut String, text: &str) {
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
