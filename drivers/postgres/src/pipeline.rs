//! What a failure in a pipelined batch means for the batch's other statements.
//!
//! A batch is sent with one `Sync` at its end. Until that `Sync`, the server runs every
//! statement in one transaction: the implicit one (no `BEGIN` in the batch), or the explicit
//! block a `BEGIN` opened. When a statement fails, the server skips the rest of the batch and
//! that transaction is lost: the implicit one is rolled back at the `Sync`; an explicit one is
//! aborted and can only end in a rollback. So every statement of the failed transaction that
//! ran before the failure was undone, and its slot must say so.
//!
//! Statements end the transaction they run in, and start a new one, when they are transaction
//! control (`COMMIT`, `ROLLBACK`, ...) or cannot run in a transaction block (`VACUUM`,
//! `CREATE DATABASE`, `CREATE INDEX CONCURRENTLY`, ...: PostgreSQL commits them at once, with
//! what preceded them in the implicit transaction). Work before such a statement stays
//! committed; the failed transaction began after the last of them.

use crate::codec::Response;

/// The index of the first statement of the batch that failed, if one did.
pub(crate) fn first_failure(replies: &[Response]) -> Option<usize> {
    replies
        .iter()
        .position(|r| matches!(r, Response::Failed(_)))
}

/// Where the transaction that failed at `failed` began: after the last earlier statement that
/// ended a transaction (`sqls` gives each statement's SQL), else at the start of the batch.
pub(crate) fn failed_transaction_start<'a>(
    replies: &[Response],
    sqls: impl Iterator<Item = &'a str>,
    failed: usize,
) -> usize {
    replies
        .iter()
        .zip(sqls)
        .take(failed)
        .enumerate()
        .filter(|(_, (reply, sql))| match reply {
            Response::Rows {
                complete: Some(c), ..
            } => ends_transaction(&c.tag, sql),
            _ => false,
        })
        .map(|(at, _)| at + 1)
        .last()
        .unwrap_or(0)
}

/// True when a statement that completed with command tag `tag` ended the transaction it ran
/// in (committed or rolled back what preceded it).
fn ends_transaction(tag: &str, sql: &str) -> bool {
    const CONTROL: &[&str] = &[
        "COMMIT",
        "ROLLBACK",
        "PREPARE TRANSACTION",
        "COMMIT PREPARED",
        "ROLLBACK PREPARED",
    ];
    // Never inside a transaction block: committed at once.
    const OUTSIDE: &[&str] = &[
        "VACUUM",
        "CREATE DATABASE",
        "DROP DATABASE",
        "CREATE TABLESPACE",
        "DROP TABLESPACE",
        "ALTER SYSTEM",
        "CREATE SUBSCRIPTION",
        "DROP SUBSCRIPTION",
    ];
    // Outside a transaction block only in their CONCURRENTLY form.
    const CONCURRENTLY: &[&str] = &["CREATE INDEX", "DROP INDEX", "REINDEX"];
    CONTROL.contains(&tag)
        || OUTSIDE.contains(&tag)
        || (CONCURRENTLY.contains(&tag) && sql.to_ascii_lowercase().contains("concurrently"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use corelane_pg_proto::message::backend::{BytesStr, CommandComplete};

    fn done(tag: &str) -> Response {
        Response::Rows {
            rows: Default::default(),
            complete: Some(CommandComplete {
                tag: BytesStr::from_utf8(bytes::Bytes::copy_from_slice(tag.as_bytes())).unwrap(),
            }),
            described: None,
        }
    }

    /// Any reply that is not a completed statement (what failed does not matter here).
    fn failed() -> Response {
        Response::Skipped
    }

    #[test]
    fn the_failed_transaction_starts_after_the_last_commit() {
        let sql = ["", "", "", "", ""];
        let replies = [
            done("INSERT 0 1"),
            done("COMMIT"),
            done("INSERT 0 1"),
            failed(),
        ];
        assert_eq!(failed_transaction_start(&replies, sql.into_iter(), 3), 2);
        let replies = [done("BEGIN"), done("INSERT 0 1"), failed()];
        assert_eq!(failed_transaction_start(&replies, sql.into_iter(), 2), 0);
        let replies = [done("CREATE INDEX"), done("INSERT 0 1"), failed()];
        assert_eq!(failed_transaction_start(&replies, sql.into_iter(), 2), 0);
        let sqls = ["create index concurrently i on t (a)", "", ""];
        assert_eq!(failed_transaction_start(&replies, sqls.into_iter(), 2), 1);
    }
}
