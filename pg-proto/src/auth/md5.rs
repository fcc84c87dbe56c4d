//! MD5 password authentication.

use md5::{Digest, Md5};

fn hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// The response to AuthenticationMD5Password:
/// `"md5" + md5_hex(md5_hex(password + user) + salt)`.
pub fn hash(user: &[u8], password: &[u8], salt: [u8; 4]) -> String {
    let mut inner = Md5::new();
    inner.update(password);
    inner.update(user);
    let mut inner_hex = String::with_capacity(32);
    hex(&inner.finalize(), &mut inner_hex);

    let mut outer = Md5::new();
    outer.update(inner_hex.as_bytes());
    outer.update(salt);
    let mut out = String::with_capacity(35);
    out.push_str("md5");
    hex(&outer.finalize(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value() {
        // md5(md5("pass" + "user") hex + salt), computed independently with Python's hashlib.
        let h = hash(b"user", b"pass", [0x01, 0x02, 0x03, 0x04]);
        assert_eq!(h.len(), 35);
        assert!(h.starts_with("md5"));
        assert_eq!(h, EXPECTED);
    }

    const EXPECTED: &str = "md56cf524962d8413e6b0cdf79fddff891c";
}
