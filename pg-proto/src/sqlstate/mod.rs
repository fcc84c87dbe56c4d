//! SQLSTATE error codes.
//!
//! The constants and condition names are generated from PostgreSQL's `errcodes.txt`
//! by `scripts/gen_sqlstate.py` (see `codes.rs`); regenerate rather than edit.

mod codes;
mod state;

use std::fmt;

pub use self::state::SqlState;

impl SqlState {
    /// Parses a code: exactly five ASCII digits or upper-case letters.
    pub fn from_code(code: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = code.as_bytes().try_into().ok()?;
        if bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            Some(SqlState(bytes))
        } else {
            None
        }
    }

    /// The code as a string, e.g. `"23505"`.
    pub fn code(&self) -> &str {
        // Constructed only from ASCII digits and letters, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("?????")
    }

    /// The two-character class, e.g. `"23"` (integrity constraint violation).
    pub fn class(&self) -> &str {
        self.code().get(..2).unwrap_or("")
    }

    /// PostgreSQL's condition name (as used by PL/pgSQL), e.g. `"unique_violation"`,
    /// or `None` for a code PostgreSQL does not define.
    pub fn condition_name(&self) -> Option<&'static str> {
        codes::CONDITION_NAMES
            .binary_search_by(|(code, _)| code.cmp(&self.0))
            .ok()
            .and_then(|i| codes::CONDITION_NAMES.get(i))
            .map(|(_, name)| *name)
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.condition_name() {
            Some(name) => write!(f, "SqlState({} {})", self.code(), name),
            None => write!(f, "SqlState({})", self.code()),
        }
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        let s = SqlState::from_code("23505").unwrap();
        assert_eq!(s, SqlState::UNIQUE_VIOLATION);
        assert_eq!(s.condition_name(), Some("unique_violation"));
        assert_eq!(s.class(), "23");
        assert_eq!(
            SqlState::INVALID_SQL_STATEMENT_NAME.condition_name(),
            Some("invalid_sql_statement_name")
        );
        assert_eq!(SqlState::INVALID_SQL_STATEMENT_NAME.code(), "26000");
        assert_eq!(SqlState::from_code("ZZ999").unwrap().condition_name(), None);
        assert!(SqlState::from_code("2350").is_none());
        assert!(SqlState::from_code("2350a").is_none());
    }

    #[test]
    fn table_sorted() {
        assert!(codes::CONDITION_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
