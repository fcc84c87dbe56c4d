//! A password that never shows up in `Debug`, logs or errors: a leaf module, shared by the
//! configuration and the host lists (`~/.pgpass`).

/// A password that never shows up in `Debug`, logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub(crate) String);

impl Password {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}
