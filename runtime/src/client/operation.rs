//! A short operation name for span fields, upper-cased on the stack (no allocation per call).

/// An operation's name (a command, a SQL statement's first keyword): 1 to 32 ASCII letters,
/// digits, `_`, `.`, `|` or `-`, upper-cased. Anything else is no name: callers record
/// `UNKNOWN`, so what a user typed never reaches a span unchecked.
#[derive(Clone, Copy)]
pub struct OperationName {
    buf: [u8; 32],
    len: usize,
}

impl OperationName {
    /// The name `raw` as an operation name, or `None` when it is not one.
    pub fn new(raw: &[u8]) -> Option<Self> {
        if raw.is_empty()
            || raw.len() > 32
            || !raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"_.|-".contains(b))
        {
            return None;
        }
        let mut buf = [0u8; 32];
        for (to, from) in buf.iter_mut().zip(raw) {
            *to = from.to_ascii_uppercase();
        }
        Some(OperationName {
            buf,
            len: raw.len(),
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or("UNKNOWN")
    }
}

impl std::fmt::Debug for OperationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OperationName;

    #[test]
    fn names_are_upper_cased_and_anything_else_is_refused() {
        assert_eq!(
            OperationName::new(b"get")
                .map(|n| n.as_str().to_owned())
                .as_deref(),
            Some("GET")
        );
        assert_eq!(
            OperationName::new(b"client.setname")
                .map(|n| n.as_str().to_owned())
                .as_deref(),
            Some("CLIENT.SETNAME")
        );
        assert!(OperationName::new(b"").is_none());
        assert!(OperationName::new(b"get key").is_none());
        assert!(OperationName::new(&[b'A'; 33]).is_none());
        assert!(OperationName::new("sélect".as_bytes()).is_none());
    }
}
