//! `/fortunes`: the table, one row added per request, sorted by message, escaped HTML.

use crate::rules::fortunes_page;
use crate::world::DataError;

/// The whole page.
pub(crate) async fn page(pg: &corelane_postgres::Client) -> Result<String, DataError> {
    let rows = pg.query("SELECT id, message FROM fortune", &[]).await?;
    let mut fortunes: Vec<(i32, String)> = Vec::with_capacity(rows.len() + 1);
    for row in &rows {
        fortunes.push((row.get(0)?, row.get(1)?));
    }
    Ok(fortunes_page(fortunes))
}
