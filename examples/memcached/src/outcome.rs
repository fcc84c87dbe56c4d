//! What storage commands take besides the key and value, and what they report back.

/// What a storage command did: the server's answer, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// `STORED`.
    Stored,
    /// `NOT_STORED`: `add` of an existing key, `replace` of a missing one.
    NotStored,
    /// `EXISTS`: the item changed since the `gets` whose CAS unique `cas` sent.
    Exists,
    /// `NOT_FOUND`: `cas` of a missing key.
    NotFound,
}

/// The flags and expiry stored with a value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Opaque flags returned with the value.
    pub flags: u32,
    /// Expiry: 0 never, up to 30 days relative seconds, else a Unix time.
    pub exptime: u32,
}
