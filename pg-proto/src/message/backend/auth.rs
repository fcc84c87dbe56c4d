//! `Authentication*` requests (message type `R`).

use bytes::Bytes;

use super::reader::{BytesStr, Reader};
use crate::error::Error;

/// An authentication request or outcome from the server.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// AuthenticationOk (0): authentication succeeded.
    Ok,
    /// AuthenticationKerberosV5 (2): not supported by modern servers.
    KerberosV5,
    /// AuthenticationCleartextPassword (3).
    CleartextPassword,
    /// AuthenticationMD5Password (5) with its 4-byte salt.
    Md5Password {
        /// Salt for [`crate::auth::md5::hash`].
        salt: [u8; 4],
    },
    /// AuthenticationSCMCredential (6).
    ScmCredential,
    /// AuthenticationGSS (7).
    Gss,
    /// AuthenticationGSSContinue (8) with GSSAPI or SSPI data.
    GssContinue(Bytes),
    /// AuthenticationSSPI (9).
    Sspi,
    /// AuthenticationSASL (10) with the mechanisms the server offers, in its preference order.
    Sasl {
        /// Mechanism names, e.g. `SCRAM-SHA-256`.
        mechanisms: Vec<BytesStr>,
    },
    /// AuthenticationSASLContinue (11): for SCRAM, the server-first message.
    SaslContinue(Bytes),
    /// AuthenticationSASLFinal (12): for SCRAM, the server-final message.
    SaslFinal(Bytes),
}

impl Authentication {
    pub(crate) fn parse(mut r: Reader) -> Result<Authentication, Error> {
        let code = r.i32("authentication code")?;
        let auth = match code {
            0 => Authentication::Ok,
            2 => Authentication::KerberosV5,
            3 => Authentication::CleartextPassword,
            5 => {
                let salt = r.bytes(4, "MD5 salt")?;
                let mut s = [0u8; 4];
                s.copy_from_slice(&salt);
                Authentication::Md5Password { salt: s }
            }
            6 => Authentication::ScmCredential,
            7 => Authentication::Gss,
            8 => Authentication::GssContinue(r.rest()),
            9 => Authentication::Sspi,
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let m = r.cstr("SASL mechanism")?;
                    if m.is_empty() {
                        break;
                    }
                    mechanisms.push(m);
                }
                Authentication::Sasl { mechanisms }
            }
            11 => Authentication::SaslContinue(r.rest()),
            12 => Authentication::SaslFinal(r.rest()),
            other => return Err(Error::UnknownAuthentication(other)),
        };
        r.finish()?;
        Ok(auth)
    }
}
