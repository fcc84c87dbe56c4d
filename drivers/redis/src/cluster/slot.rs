//! Key slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.

/// Slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The slot of `key`, as Redis Cluster computes it: CRC16/XMODEM of the key modulo 16384,
/// or of its *hash tag* — the bytes between the first `{` and the first `}` after it, when
/// there is at least one byte between them — so `{user1}.name` and `{user1}.mail` share a
/// slot.
///
/// ```
/// use corelane_redis::cluster::key_slot;
///
/// assert_eq!(key_slot(b"foo"), 12182);
/// assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
/// // An empty tag is no tag: the whole key is hashed.
/// assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_part(key)) % SLOTS
}

/// The part of `key` that is hashed: its tag when it has a non-empty one, else all of it.
fn hash_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(0) | None => key,
        Some(close) => &rest[..close],
    }
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum the cluster spec names.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::{crc16, key_slot};

    /// The spec's check value for CRC16/XMODEM.
    #[test]
    fn crc16_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    /// The cluster spec's hash-tag examples.
    #[test]
    fn hash_tags_as_the_spec_defines() {
        let slot = |k: &str| key_slot(k.as_bytes());
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("{user1000}.followers"), slot("user1000"));
        // Only the first `{…}` counts.
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
        // `{` then `}` right away: no tag, the whole key.
        assert_eq!(slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        // The tag runs from the first `{` to the first `}` after it.
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar"), crc16(b"foo{bar") % 16384);
        assert_eq!(slot("}foo{"), crc16(b"}foo{") % 16384);
    }

    /// Values from Redis itself (`CLUSTER KEYSLOT`).
    #[test]
    fn known_slots() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
        assert!(key_slot(&[0xff; 100]) < 16384);
    }
}
