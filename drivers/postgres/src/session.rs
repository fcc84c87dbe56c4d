//! Keeping session state off shared connections (ARCHITECTURE.md, invariant 7).
//!
//! A worker's shared connection carries every caller's statements, pipelined. A statement that
//! changes the *session* would change what the others' statements see or do: `BEGIN` pulls
//! the statements queued behind it into the caller's transaction (a later `ROLLBACK` undoes
//! them), `SET` changes their settings, `LISTEN` makes notifications arrive where nobody reads
//! them, and `COPY ... FROM STDIN` swallows the messages behind it.
//!
//! Two lines of defence:
//!
//! 1. **Before sending** ([`check`]): the statement's leading keywords are read (comments,
//!    quotes and dollar quotes skipped; every statement of a simple-protocol string) and such a
//!    statement is refused with [`Error::is_session_change`], naming the API to use instead.
//!    Only this can keep the other callers' work intact: by the time the server reports a
//!    change, their statements may already be on the wire behind it.
//! 2. **From what the server reports** (in the codec, on shared connections only): a
//!    `ReadyForQuery` whose status is not idle (a transaction opened in a way the check did not
//!    see) fails that request with the same typed error and every later reply on the
//!    connection, which then closes: the server rolls the transaction back, and no request
//!    whose work ran inside it reports success. A `ParameterStatus` after startup (a setting
//!    changed, by a statement such as `SELECT set_config(..)` or by the server itself on a
//!    configuration reload or promotion) or a `NotificationResponse` (someone listens on it)
//!    retires the connection: it leaves the pool at once and closes when its last user is
//!    done, so the change reaches no later call. The caller is not failed there: its statement
//!    ran, and the report cannot say whose statement (if any) caused it.
//!
//! The refused statements, and why the alternatives are safe:
//! - transaction control (`BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`,
//!   `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`): [`Client::transaction`] runs on a
//!   connection of its own. (`COMMIT PREPARED` / `ROLLBACK PREPARED` leave no session state
//!   and are allowed.)
//! - `SET` (other than `SET LOCAL`, `SET TRANSACTION`, `SET CONSTRAINTS`, which end with the
//!   statement's own implicit transaction) and `RESET`: [`Client::session`] (a connection of
//!   one's own, reset after), `SET LOCAL` inside [`Client::transaction`] (its connection is
//!   reset after), or a setting for every connection through the configuration (`options`,
//!   startup parameters).
//! - `LISTEN`: [`Client::listener`] (a connection of its own that delivers notifications).
//! - `COPY ... FROM STDIN` / `TO STDOUT`: [`Client::copy_in`] / [`Client::copy_out`].
//!
//! [`Client::transaction`]: crate::Client::transaction
//! [`Client::session`]: crate::Client::session
//! [`Client::listener`]: crate::Client::listener
//! [`Client::copy_in`]: crate::Client::copy_in
//! [`Client::copy_out`]: crate::Client::copy_out

use std::cell::Cell;

use crate::Error;

/// What the codec of a connection learns about its session, shared with the connection (and
/// through it the pool).
#[derive(Debug, Default)]
pub(crate) struct SessionWatch {
    /// The connection is a worker's shared connection (set once startup is done): the checks
    /// below apply. Exclusive connections (transactions, COPY) may change their session: they
    /// are reset before reuse.
    shared: Cell<bool>,
    /// A setting changed or a notification came: the connection leaves the pool and closes
    /// once its last user is done.
    retired: Cell<bool>,
    /// A transaction was left open: every later reply fails and the connection closes.
    poisoned: Cell<bool>,
    /// The last `default_transaction_read_only` the server reported (`None`: not reported).
    default_read_only: Cell<Option<bool>>,
    /// The last `in_hot_standby` the server reported (PostgreSQL 14 and later report it).
    in_hot_standby: Cell<Option<bool>>,
}

impl SessionWatch {
    /// Marks the connection shared (after startup, whose `ParameterStatus` messages are
    /// expected).
    pub(crate) fn mark_shared(&self) {
        self.shared.set(true);
    }

    pub(crate) fn is_shared(&self) -> bool {
        self.shared.get()
    }

    /// A `ParameterStatus`: the two parameters `target_session_attrs` is decided by are
    /// recorded (as libpq does), then the report is handled as any other.
    pub(crate) fn on_parameter(&self, name: &str, value: &str) {
        let on = value == "on";
        match name {
            "default_transaction_read_only" => self.default_read_only.set(Some(on)),
            "in_hot_standby" => self.in_hot_standby.set(Some(on)),
            _ => {}
        }
        self.on_session_report();
    }

    /// Forgets what the server reported, as if it were older than PostgreSQL 14 (tests the
    /// query fallback of `target_session_attrs`).
    #[cfg(test)]
    pub(crate) fn forget_reported(&self) {
        self.default_read_only.set(None);
        self.in_hot_standby.set(None);
    }

    /// `default_transaction_read_only` and `in_hot_standby` as last reported.
    pub(crate) fn reported_read_only(&self) -> (Option<bool>, Option<bool>) {
        (self.default_read_only.get(), self.in_hot_standby.get())
    }

    /// A `ParameterStatus` or `NotificationResponse` arrived: on a shared connection, retire it.
    pub(crate) fn on_session_report(&self) {
        if self.shared.get() {
            self.retired.set(true);
        }
    }

    /// A request on a shared connection ended with a transaction open.
    pub(crate) fn poison(&self) {
        self.poisoned.set(true);
        self.retired.set(true);
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.get()
    }

    /// The connection must not be handed out again.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.get()
    }
}

/// What a refused statement would have changed, and what to use instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Transaction control, or a transaction the server reported open.
    Transaction,
    /// A session setting.
    Setting,
    /// `LISTEN`.
    Listen,
    /// `COPY ... FROM STDIN`.
    CopyIn,
    /// `COPY ... TO STDOUT`.
    CopyOut,
    /// `LISTEN` on a [`Session`](crate::Session).
    ListenOnSession,
    /// `COPY ... FROM STDIN` / `TO STDOUT` on a [`Session`](crate::Session).
    CopyOnSession,
}

impl Change {
    /// The error's text: what happened and the API to use.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Change::Transaction => {
                "transaction control on a shared connection would pull other callers' \
                 statements into the transaction; use Client::transaction() or Client::begin()"
            }
            Change::Setting => {
                "SET/RESET on a shared connection would change the session of every caller \
                 sharing it; use Client::session() (a connection of your own, where it \
                 sticks), SET LOCAL inside Client::transaction() (an exclusive connection, \
                 reset after), or set it for all connections in the Config (options / startup \
                 parameters)"
            }
            Change::Listen => {
                "LISTEN on a shared connection: its notifications would reach no one; use \
                 Client::listener() and Listener::listen()"
            }
            Change::CopyIn => {
                "COPY FROM STDIN on a shared connection would take over the connection; use \
                 Client::copy_in()"
            }
            Change::CopyOut => {
                "COPY TO STDOUT on a shared connection would take over the connection; use \
                 Client::copy_out()"
            }
            Change::ListenOnSession => {
                "LISTEN on a Session: a session does not deliver notifications, so they would \
                 reach no one; use Client::listener() and Listener::listen()"
            }
            Change::CopyOnSession => {
                "COPY FROM STDIN / TO STDOUT on a Session is not supported; use \
                 Client::copy_in() / Client::copy_out() (on a connection of their own: they do \
                 not see the session's temporary tables or settings)"
            }
        }
    }
}

/// Refuses `sql` for a shared connection when one of its statements changes the session (see
/// the module docs). `sql` may hold several statements (simple protocol).
pub(crate) fn check(sql: &str) -> Result<(), Error> {
    match classify(sql) {
        Some(change) => Err(Error::session_change(change)),
        None => Ok(()),
    }
}

/// Refuses `sql` for a [`Session`](crate::Session) (its own connection, so transaction
/// control and settings are allowed) when one of its statements is `LISTEN` (a session does
/// not deliver notifications) or a `COPY` to or from the client (not supported there).
pub(crate) fn check_session(sql: &str) -> Result<(), Error> {
    let refused = first_change(sql, |change| {
        matches!(change, Change::Listen | Change::CopyIn | Change::CopyOut)
    });
    match refused {
        Some(Change::Listen) => Err(Error::session_change(Change::ListenOnSession)),
        Some(_) => Err(Error::session_change(Change::CopyOnSession)),
        None => Ok(()),
    }
}

/// [`check`] for a described statement: its SQL was classified when it was described
/// ([`Statement::session_change`](crate::Statement)), so this lexes nothing.
pub(crate) fn check_statement(stmt: &crate::Statement) -> Result<(), Error> {
    match stmt.session_change {
        Some(change) => Err(Error::session_change(change)),
        None => Ok(()),
    }
}

/// The first session-changing statement of `sql`, if any.
pub(crate) fn classify(sql: &str) -> Option<Change> {
    first_change(sql, |_| true)
}

/// The first session-changing statement of `sql` that `wanted` picks, if any.
fn first_change(sql: &str, wanted: impl Fn(Change) -> bool) -> Option<Change> {
    let mut words = Words::new(sql);
    loop {
        // The leading words of one statement.
        let first = loop {
            match words.next()? {
                Token::Semicolon => continue,
                Token::Word(w) => break Some(w),
                Token::Other => break None,
            }
        };
        if let Some(first) = first {
            if let Some(change) = statement(first, &mut words).filter(|c| wanted(*c)) {
                return Some(change);
            }
        }
        // Skip to the end of this statement. A SQL-standard function body (`BEGIN ATOMIC …
        // END`) holds semicolons of its own: they do not end the statement.
        let mut atomic = 0usize;
        let mut last_begin = false;
        loop {
            match words.next() {
                None => return None,
                Some(Token::Semicolon) if atomic == 0 => break,
                Some(Token::Word(w)) => {
                    // `BEGIN ATOMIC` opens a body; inside it, `CASE` opens an expression
                    // that `END` closes too.
                    let opens = (last_begin && w.eq_ignore_ascii_case("ATOMIC"))
                        || (atomic > 0 && w.eq_ignore_ascii_case("CASE"));
                    if opens {
                        atomic += 1;
                    } else if atomic > 0 && w.eq_ignore_ascii_case("END") {
                        atomic -= 1;
                    }
                    last_begin = w.eq_ignore_ascii_case("BEGIN");
                    continue;
                }
                Some(_) => {}
            }
            last_begin = false;
        }
    }
}

/// Classifies one statement from its first word; reads further words as needed.
fn statement<'a>(first: &str, words: &mut Words<'a>) -> Option<Change> {
    let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    fn second<'a>(words: &mut Words<'a>) -> Option<&'a str> {
        match words.peek() {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }
    if ["BEGIN", "START", "END", "ABORT", "SAVEPOINT", "RELEASE"]
        .iter()
        .any(|k| is(first, k))
    {
        return Some(Change::Transaction);
    }
    if is(first, "COMMIT") || is(first, "ROLLBACK") {
        // COMMIT PREPARED / ROLLBACK PREPARED end a prepared transaction, not the session's.
        return match second(words) {
            Some(w) if is(w, "PREPARED") => None,
            _ => Some(Change::Transaction),
        };
    }
    if is(first, "PREPARE") {
        return match second(words) {
            Some(w) if is(w, "TRANSACTION") => Some(Change::Transaction),
            _ => None,
        };
    }
    if is(first, "SET") {
        return match second(words) {
            // Scoped to the statement's own (implicit) transaction.
            Some(w) if is(w, "LOCAL") || is(w, "TRANSACTION") || is(w, "CONSTRAINTS") => None,
            _ => Some(Change::Setting),
        };
    }
    if is(first, "RESET") {
        return Some(Change::Setting);
    }
    if is(first, "LISTEN") {
        return Some(Change::Listen);
    }
    if is(first, "COPY") {
        // Only a copy to or from the client takes over the connection (a server-side file or
        // program does not).
        while let Some(token) = words.peek() {
            match token {
                Token::Semicolon => break,
                Token::Word(w) if is(w, "STDIN") => return Some(Change::CopyIn),
                Token::Word(w) if is(w, "STDOUT") => return Some(Change::CopyOut),
                _ => {
                    words.next();
                }
            }
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Semicolon,
    /// Anything else: punctuation, numbers, quoted strings and identifiers, parameters.
    Other,
}

/// A minimal SQL lexer: words, semicolons, and everything else as one kind; comments
/// (nested `/* */` and `--`), quoted strings (`'..'`, `E'..'` with backslash escapes), quoted
/// identifiers and dollar-quoted strings are skipped whole. Never panics: it works on bytes
/// and only slices at ASCII boundaries.
struct Words<'a> {
    sql: &'a str,
    at: usize,
    peeked: Option<Option<Token<'a>>>,
}

impl<'a> Words<'a> {
    fn new(sql: &'a str) -> Self {
        Words {
            sql,
            at: 0,
            peeked: None,
        }
    }

    fn peek(&mut self) -> Option<Token<'a>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex());
        }
        self.peeked.flatten()
    }

    fn next(&mut self) -> Option<Token<'a>> {
        match self.peeked.take() {
            Some(token) => token,
            None => self.lex(),
        }
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.sql.as_bytes().get(i).copied()
    }

    fn lex(&mut self) -> Option<Token<'a>> {
        loop {
            let b = self.byte(self.at)?;
            match b {
                b if b.is_ascii_whitespace() => self.at += 1,
                b'-' if self.byte(self.at + 1) == Some(b'-') => {
                    while let Some(c) = self.byte(self.at) {
                        self.at += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                b'/' if self.byte(self.at + 1) == Some(b'*') => self.block_comment(),
                b';' => {
                    self.at += 1;
                    return Some(Token::Semicolon);
                }
                b'\'' => {
                    self.quoted(b'\'', false);
                    return Some(Token::Other);
                }
                b'"' => {
                    self.quoted(b'"', false);
                    return Some(Token::Other);
                }
                b'$' => {
                    self.dollar();
                    return Some(Token::Other);
                }
                b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                    let start = self.at;
                    while let Some(c) = self.byte(self.at) {
                        if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                    // E'..' (escape string): the word is its prefix.
                    if self.byte(self.at) == Some(b'\'') && self.at - start == 1 {
                        let escapes = matches!(b, b'e' | b'E');
                        self.quoted(b'\'', escapes);
                        return Some(Token::Other);
                    }
                    return Some(
                        self.sql
                            .get(start..self.at)
                            .map_or(Token::Other, Token::Word),
                    );
                }
                _ => {
                    self.at += 1;
                    return Some(Token::Other);
                }
            }
        }
    }

    /// Skips a quoted string or identifier starting at `self.at`; a doubled quote is one
    /// quote; with `escapes`, a backslash escapes the next byte.
    fn quoted(&mut self, quote: u8, escapes: bool) {
        self.at += 1;
        while let Some(c) = self.byte(self.at) {
            self.at += 1;
            if escapes && c == b'\\' {
                self.at += 1;
            } else if c == quote {
                if self.byte(self.at) == Some(quote) {
                    self.at += 1;
                } else {
                    return;
                }
            }
        }
    }

    /// Skips a (nested) block comment starting at `self.at`.
    fn block_comment(&mut self) {
        self.at += 2;
        let mut depth = 1usize;
        while let Some(c) = self.byte(self.at) {
            if c == b'/' && self.byte(self.at + 1) == Some(b'*') {
                depth += 1;
                self.at += 2;
            } else if c == b'*' && self.byte(self.at + 1) == Some(b'/') {
                depth -= 1;
                self.at += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.at += 1;
            }
        }
    }

    /// At a `$`: a parameter (`$1`) or a dollar-quoted string (`$tag$ … $tag$`), skipped.
    fn dollar(&mut self) {
        let start = self.at;
        let mut end = start + 1;
        while let Some(c) = self.byte(end) {
            if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
                end += 1;
            } else {
                break;
            }
        }
        let starts_with_digit = self.byte(start + 1).is_some_and(|c| c.is_ascii_digit());
        if starts_with_digit || self.byte(end) != Some(b'$') {
            // A parameter, or a lone `$`.
            self.at = end.max(start + 1);
            return;
        }
        let tag = self.sql.as_bytes().get(start..=end).unwrap_or_default();
        let body = end + 1;
        let rest = self.sql.as_bytes().get(body..).unwrap_or_default();
        self.at = match rest.windows(tag.len()).position(|w| w == tag) {
            Some(k) => body + k + tag.len(),
            None => self.sql.len(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Expect, PgCodec, Response};
    use bytes::BytesMut;
    use corelane_runtime::roundtrip::Codec;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_transaction_left_open_on_a_shared_connection_fails_every_later_reply() {
        let mut codec = PgCodec::new(None, 1 << 20);
        let session = codec.session();
        session.mark_shared();
        let mut input = BytesMut::new();
        input.extend_from_slice(&message(b'C', b"BEGIN\0"));
        input.extend_from_slice(&message(b'Z', b"T"));
        input.extend_from_slice(&message(b'C', b"INSERT 0 1\0"));
        input.extend_from_slice(&message(b'Z', b"T"));
        assert!(matches!(
            codec.decode(&Expect::Simple, &mut input),
            Ok(Some(Response::SessionChanged))
        ));
        assert!(session.is_retired());
        // The request behind it ran inside that transaction: never reported a success.
        assert!(codec.decode(&Expect::Execute, &mut input).is_err());
        assert!(codec.unsolicited(&mut input).is_err());
    }

    #[test]
    fn settings_and_notifications_retire_only_shared_connections() {
        let status = message(b'S', b"TimeZone\0UTC\0");
        let ready = message(b'Z', b"I");
        for shared in [false, true] {
            let mut codec = PgCodec::new(None, 1 << 20);
            let session = codec.session();
            if shared {
                session.mark_shared();
            }
            let mut input = BytesMut::new();
            input.extend_from_slice(&message(b'C', b"SELECT 1\0"));
            input.extend_from_slice(&status);
            input.extend_from_slice(&ready);
            assert!(matches!(
                codec.decode(&Expect::Simple, &mut input),
                Ok(Some(Response::Rows { .. }))
            ));
            assert_eq!(session.is_retired(), shared);
            assert!(!session.is_poisoned());
        }
        // In a transaction of an exclusive connection: no change.
        let mut codec = PgCodec::new(None, 1 << 20);
        let mut input = BytesMut::new();
        input.extend_from_slice(&message(b'Z', b"T"));
        assert!(matches!(
            codec.decode(&Expect::Simple, &mut input),
            Ok(Some(Response::Rows { .. }))
        ));
    }

    #[test]
    fn refuses_session_changes() {
        let cases = [
            ("BEGIN", Change::Transaction),
            ("  begin isolation level serializable", Change::Transaction),
            ("/* hi */ -- x\n START TRANSACTION", Change::Transaction),
            ("commit", Change::Transaction),
            ("ROLLBACK", Change::Transaction),
            ("end", Change::Transaction),
            ("SAVEPOINT a", Change::Transaction),
            ("PREPARE TRANSACTION 'x'", Change::Transaction),
            ("SET search_path = x", Change::Setting),
            ("set session timezone = 'UTC'", Change::Setting),
            ("SET ROLE nobody", Change::Setting),
            ("RESET ALL", Change::Setting),
            ("listen chan", Change::Listen),
            ("COPY t FROM STDIN", Change::CopyIn),
            (
                "copy (select 1) to stdout with (format csv)",
                Change::CopyOut,
            ),
            ("SELECT 1; BEGIN", Change::Transaction),
            ("SELECT ';'; SET x = 1", Change::Setting),
            ("SELECT $$;$$; LISTEN x", Change::Listen),
            ("SELECT E'\\';'; BEGIN", Change::Transaction),
            ("/* /* nested */ ; */ BEGIN", Change::Transaction),
        ];
        for (sql, change) in cases {
            assert_eq!(classify(sql), Some(change), "{sql}");
        }
    }

    #[test]
    fn a_session_refuses_only_listen_and_copy() {
        for sql in [
            "BEGIN",
            "SET search_path = app",
            "RESET ALL",
            "COMMIT",
            "PREPARE p AS SELECT 1",
            "COPY t TO '/tmp/x'",
            "UNLISTEN *",
        ] {
            assert!(check_session(sql).is_ok(), "{sql}");
        }
        for (sql, names) in [
            ("LISTEN chan", "Client::listener()"),
            ("SET x = 1; listen chan", "Client::listener()"),
            ("BEGIN; COPY t FROM STDIN", "Client::copy_in()"),
            ("copy (select 1) to stdout", "Client::copy_out()"),
        ] {
            match check_session(sql) {
                Err(e) => {
                    assert!(e.is_session_change(), "{sql}: {e}");
                    assert!(e.to_string().contains(names), "{sql}: {e}");
                }
                Ok(()) => panic!("{sql} was let through"),
            }
        }
    }

    #[test]
    fn lets_the_rest_through() {
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES ($1, 'BEGIN; SET x')",
            "SET LOCAL work_mem = '1MB'",
            "SET TRANSACTION READ ONLY",
            "SET CONSTRAINTS ALL DEFERRED",
            "COMMIT PREPARED 'x'",
            "rollback prepared 'x'",
            "PREPARE p AS SELECT 1",
            "UNLISTEN *",
            "NOTIFY chan",
            "COPY t TO '/tmp/x'",
            "SELECT \"begin\" FROM t",
            "UPDATE t SET a = 1",
            "-- BEGIN\nSELECT 1",
            "SELECT $tag$ ; BEGIN $tag$",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; \
             SELECT CASE WHEN true THEN 1 END; END; SELECT 2",
            "",
            ";;",
            "SELECT 'unterminated",
            "SELECT $",
            "SELECT ünïcode",
        ] {
            assert_eq!(classify(sql), None, "{sql}");
        }
    }
}
