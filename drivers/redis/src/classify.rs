//! Which commands may run on a shared connection.
//!
//! Ordinary calls share a worker's pipelined connections, so a command that changes the
//! connection's state (or holds it) changes what every other caller on it sees: `CLIENT REPLY
//! OFF` shifts replies so callers get each other's values, `SELECT` moves everyone to another
//! database, `MULTI` pulls their commands into a transaction, `SUBSCRIBE` turns the connection
//! into a message stream, a blocking pop stalls everything behind it. One table here names
//! each such command; the call paths route blocking commands to a connection of their own and
//! refuse the rest with an error that names the API to use instead.

use corelane_redis_proto::Cmd;

use crate::Error;

/// What a command does to the connection it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Leaves nothing behind: fine on a shared connection.
    Shared,
    /// Holds the connection until the server answers (`BLPOP`, `XREAD … BLOCK`, `WAIT`, …):
    /// runs on an exclusive connection.
    Blocking,
    /// `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`.
    Transaction,
    /// The subscribe family: the connection becomes a message stream.
    Subscribe,
    /// `SELECT`: every later command would use another database.
    Select,
    /// Session settings of the connection (`CLIENT REPLY`, `HELLO`, `AUTH`, `RESET`, …) or
    /// commands that end or take it over (`QUIT`, `MONITOR`, `SYNC`).
    Session,
}

impl Class {
    /// What to use instead, for the error of a refused command.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Class::Shared => "",
            Class::Blocking => {
                "send it alone with Client::query (it then runs on a connection of its own) or \
                 use Client::with_connection"
            }
            Class::Transaction => {
                "use Client::transaction (WATCH … MULTI … EXEC) or Pipeline::atomic (MULTI … EXEC)"
            }
            Class::Subscribe => "use Client::subscriber",
            Class::Select => "set the database in the configuration (Config::db, or /N in the URL)",
            Class::Session => {
                "set it in the configuration (Config: protocol, username/password, client_name, \
                 db) or run it inside Client::with_connection"
            }
        }
    }

    /// Whether an exclusive connection ([`Client::with_connection`](crate::Client)) may run it:
    /// transactions and blocking commands are what those connections are for, and their reset
    /// (`DISCARD`, `UNWATCH`) undoes a transaction left open. The other kinds would outlive the
    /// checkout (nothing resets them) and reach the connection's next user.
    pub(crate) fn allowed_exclusive(self) -> bool {
        matches!(self, Class::Shared | Class::Blocking | Class::Transaction)
    }
}

/// The class of `cmd`, from its name and, where it matters, its subcommand or options.
pub(crate) fn classify(cmd: &Cmd) -> Class {
    let mut args = cmd.iter_args();
    let Some(name) = args.next() else {
        return Class::Shared;
    };
    // Names are short: compare without allocating.
    let is = |want: &str| name.eq_ignore_ascii_case(want.as_bytes());
    for (command, class) in TABLE {
        if is(command) {
            return *class;
        }
    }
    if is("CLIENT") {
        let sub = args.next().unwrap_or_default();
        return if CLIENT_SESSION
            .iter()
            .any(|s| sub.eq_ignore_ascii_case(s.as_bytes()))
        {
            Class::Session
        } else {
            Class::Shared
        };
    }
    if is("XREAD") || is("XREADGROUP") {
        // Blocking only with a BLOCK option, which comes before STREAMS.
        for arg in args {
            if arg.eq_ignore_ascii_case(b"STREAMS") {
                break;
            }
            if arg.eq_ignore_ascii_case(b"BLOCK") {
                return Class::Blocking;
            }
        }
    }
    Class::Shared
}

/// The error for `cmd` of `class` where it may not run: its name (with the subcommand for
/// `CLIENT`) and what to use instead.
pub(crate) fn refusal(cmd: &Cmd, class: Class) -> Error {
    let mut args = cmd.iter_args();
    let name = args.next().unwrap_or_default();
    let mut shown = name.to_vec();
    if name.eq_ignore_ascii_case(b"CLIENT") {
        if let Some(sub) = args.next() {
            shown.push(b' ');
            shown.extend_from_slice(sub);
        }
    }
    Error::refused(&shown, class.advice())
}

/// Commands classified by their name alone.
const TABLE: &[(&str, Class)] = &[
    ("BLPOP", Class::Blocking),
    ("BRPOP", Class::Blocking),
    ("BRPOPLPUSH", Class::Blocking),
    ("BLMOVE", Class::Blocking),
    ("BLMPOP", Class::Blocking),
    ("BZPOPMIN", Class::Blocking),
    ("BZPOPMAX", Class::Blocking),
    ("BZMPOP", Class::Blocking),
    ("WAIT", Class::Blocking),
    ("WAITAOF", Class::Blocking),
    ("MULTI", Class::Transaction),
    ("EXEC", Class::Transaction),
    ("DISCARD", Class::Transaction),
    ("WATCH", Class::Transaction),
    ("UNWATCH", Class::Transaction),
    ("SUBSCRIBE", Class::Subscribe),
    ("PSUBSCRIBE", Class::Subscribe),
    ("SSUBSCRIBE", Class::Subscribe),
    ("UNSUBSCRIBE", Class::Subscribe),
    ("PUNSUBSCRIBE", Class::Subscribe),
    ("SUNSUBSCRIBE", Class::Subscribe),
    ("SELECT", Class::Select),
    ("HELLO", Class::Session),
    ("AUTH", Class::Session),
    ("RESET", Class::Session),
    ("QUIT", Class::Session),
    ("MONITOR", Class::Session),
    ("SYNC", Class::Session),
    ("PSYNC", Class::Session),
    ("READONLY", Class::Session),
    ("READWRITE", Class::Session),
];

/// `CLIENT` subcommands that change the connection's own session. (`TRACKING` and `CACHING`
/// are allowed: they only decide which invalidation pushes arrive, and those go to
/// `Config::on_push`, never into another caller's reply.)
const CLIENT_SESSION: &[&str] = &["REPLY", "SETNAME", "NO-EVICT", "NO-TOUCH"];

#[cfg(test)]
mod tests {
    use super::{classify, Class};
    use corelane_redis_proto::Cmd;

    fn of(args: &[&str]) -> Class {
        let mut cmd = Cmd::new(args[0]);
        for a in &args[1..] {
            cmd.push(*a);
        }
        classify(&cmd)
    }

    #[test]
    fn names_and_subcommands_case_insensitive() {
        assert_eq!(of(&["get", "k"]), Class::Shared);
        assert_eq!(of(&["client", "reply", "off"]), Class::Session);
        assert_eq!(of(&["CLIENT", "Reply", "SKIP"]), Class::Session);
        assert_eq!(of(&["CLIENT", "ID"]), Class::Shared);
        assert_eq!(of(&["CLIENT", "LIST"]), Class::Shared);
        assert_eq!(of(&["bLpOp", "q", "0"]), Class::Blocking);
        assert_eq!(of(&["multi"]), Class::Transaction);
        assert_eq!(of(&["Select", "2"]), Class::Select);
        assert_eq!(of(&["psubscribe", "x*"]), Class::Subscribe);
        assert_eq!(
            of(&["XREAD", "COUNT", "1", "STREAMS", "s", "0"]),
            Class::Shared
        );
        assert_eq!(
            of(&["xread", "block", "0", "STREAMS", "s", "$"]),
            Class::Blocking
        );
        assert_eq!(
            of(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "10",
                "STREAMS",
                "s",
                ">"
            ]),
            Class::Blocking
        );
        // A stream named BLOCK is not an option.
        assert_eq!(of(&["XREAD", "STREAMS", "BLOCK", "0"]), Class::Shared);
        assert_eq!(of(&["SWAPDB", "0", "1"]), Class::Shared);
    }
}
