//! Server error replies (`-ERR ...`, `!...`) as values.

use std::fmt;

use bytes::Bytes;

/// The text of a server error reply: a simple error (`-`) or a blob error (`!`).
///
/// Redis starts the text with an upper-case code (`ERR`, `WRONGTYPE`, `MOVED`, `NOSCRIPT`, …)
/// followed by a space and a human-readable message. [`code`](Self::code) and
/// [`message`](Self::message) split it; the full text stays available, zero-copy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerError {
    text: Bytes,
}

impl ServerError {
    /// Wraps the text of an error reply (without the `-` and `\r\n`).
    pub fn new(text: impl Into<Bytes>) -> Self {
        Self { text: text.into() }
    }

    /// The full text, e.g. `MOVED 3999 127.0.0.1:6381`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// The full text as the shared buffer it was decoded into.
    pub fn bytes(&self) -> &Bytes {
        &self.text
    }

    /// The error code: the first word when it is non-empty and made only of ASCII upper-case
    /// letters, digits, `_` or `-` (`ERR`, `WRONGTYPE`, `MOVED`, `ASK`, `NOSCRIPT`, …);
    /// `None` when the text does not start with such a word (e.g. a Lua `error("oops")`).
    pub fn code(&self) -> Option<&str> {
        let word = self.text.split(|&b| b == b' ').next().unwrap_or_default();
        let is_code = !word.is_empty()
            && word
                .iter()
                .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if is_code {
            std::str::from_utf8(word).ok()
        } else {
            None
        }
    }

    /// The message after the code and its space; the whole text when there is no code.
    pub fn message(&self) -> &[u8] {
        match self.code() {
            Some(code) => self.text.get(code.len() + 1..).unwrap_or_default(),
            None => &self.text,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.text))
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerError")
            .field(&String::from_utf8_lossy(&self.text))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_code_and_message() {
        let e =
            ServerError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(e.code(), Some("WRONGTYPE"));
        assert_eq!(
            e.message(),
            b"Operation against a key holding the wrong kind of value"
        );
        let moved = ServerError::new("MOVED 3999 127.0.0.1:6381");
        assert_eq!(moved.code(), Some("MOVED"));
        assert_eq!(moved.message(), b"3999 127.0.0.1:6381");
        assert_eq!(moved.to_string(), "MOVED 3999 127.0.0.1:6381");
    }

    #[test]
    fn no_code() {
        let e = ServerError::new("user script said no");
        assert_eq!(e.code(), None);
        assert_eq!(e.message(), b"user script said no");
        let bare = ServerError::new("ERR");
        assert_eq!(bare.code(), Some("ERR"));
        assert_eq!(bare.message(), b"");
        let empty = ServerError::new("");
        assert_eq!(empty.code(), None);
        assert_eq!(empty.message(), b"");
    }
}
