//! SCRAM-SHA-256 client (RFC 5802, RFC 7677), with optional `tls-server-end-point` channel
//! binding (SCRAM-SHA-256-PLUS, RFC 5929).
//!
//! Channel binding ties the exchange to the TLS connection it runs on: the client mixes a
//! hash of the server's certificate into its proof, so a man in the middle that terminates TLS
//! with another certificate cannot relay the exchange. Pick the [`ChannelBinding`] from what
//! the connection and the server offer (see [`ChannelBinding`]), then start the exchange with
//! [`ScramSha256::with_channel_binding`] and send [`ScramSha256::mechanism`].
//!
//! Call order, driven by the server's Authentication messages:
//!
//! 1. [`ScramSha256::new`]; send [`ScramSha256::message`] in a SASLInitialResponse with
//!    mechanism [`SCRAM_SHA_256`].
//! 2. On AuthenticationSASLContinue: [`ScramSha256::update`] with its data; send
//!    [`ScramSha256::message`] (now the client-final message) in a SASLResponse.
//!
//!    `update` runs PBKDF2, CPU work the *server* sizes (up to the client's cap: about a
//!    second). A driver on an event loop splits it in three so that work runs elsewhere:
//!    [`ScramSha256::begin_update`] parses and checks the server-first message and returns a
//!    [`Pbkdf2`] job (`Send`, pure); run [`Pbkdf2::run`] on another thread; hand its
//!    [`SaltedPassword`] to [`ScramSha256::complete_update`].
//! 3. On AuthenticationSASLFinal: [`ScramSha256::finish`] with its data, which verifies the
//!    server signature (constant-time comparison).
//! 4. On AuthenticationOk: [`ScramSha256::ensure_verified`]. An AuthenticationOk that arrives
//!    before a verified SASLFinal means the server never proved it knows the password: reject it.
//!
//! Passwords: ASCII passwords are used as is (SASLprep leaves them unchanged). Other passwords
//! are used as raw bytes without SASLprep normalization, which matches the server whenever the
//! password is already in SASLprep normal form (true of most real-world passwords; a password
//! with, e.g., non-ASCII spaces or compatibility characters would not authenticate).
//!
//! The server's iteration count is bounded below by 4096 (RFC 7677) and above by a client limit
//! ([`DEFAULT_MAX_ITERATIONS`]) so a hostile server cannot stall a thread in PBKDF2.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::AuthError;

/// The SASL mechanism name.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// The SASL mechanism name with channel binding.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// The channel binding type PostgreSQL supports (RFC 5929).
pub const TLS_SERVER_END_POINT: &str = "tls-server-end-point";
/// The smallest iteration count accepted (RFC 7677).
pub const MIN_ITERATIONS: u32 = 4096;
/// The default largest iteration count accepted: about a second of PBKDF2 on a slow core.
pub const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

/// What the client says about channel binding in its GS2 header (RFC 5802 section 6).
#[derive(Clone, PartialEq, Eq)]
pub enum ChannelBinding {
    /// `n,,`: the client does not support channel binding (or does not want it, or the
    /// connection is not TLS). Mechanism `SCRAM-SHA-256`.
    Unsupported,
    /// `y,,`: the client supports channel binding but the server did not offer
    /// `SCRAM-SHA-256-PLUS` on a TLS connection. A server that does support it then knows a
    /// man in the middle stripped the offer, and refuses. Mechanism `SCRAM-SHA-256`.
    NotOffered,
    /// `p=tls-server-end-point,,`: binds the exchange to the TLS connection. The data is the
    /// hash of the server's leaf certificate (RFC 5929 section 4.1). Mechanism
    /// `SCRAM-SHA-256-PLUS`.
    TlsServerEndPoint(Vec<u8>),
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelBinding::Unsupported => f.write_str("Unsupported"),
            ChannelBinding::NotOffered => f.write_str("NotOffered"),
            ChannelBinding::TlsServerEndPoint(data) => {
                write!(f, "TlsServerEndPoint({} bytes)", data.len())
            }
        }
    }
}

impl ChannelBinding {
    /// The GS2 header this choice starts the client-first message with.
    pub fn gs2_header(&self) -> &'static str {
        match self {
            ChannelBinding::Unsupported => "n,,",
            ChannelBinding::NotOffered => "y,,",
            ChannelBinding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    /// The SASL mechanism to ask for with this choice.
    pub fn mechanism(&self) -> &'static str {
        match self {
            ChannelBinding::TlsServerEndPoint(_) => SCRAM_SHA_256_PLUS,
            ChannelBinding::Unsupported | ChannelBinding::NotOffered => SCRAM_SHA_256,
        }
    }

    /// The `c=` attribute's value of the client-final message: base64 of the GS2 header
    /// followed by the channel binding data.
    pub fn c_attribute(&self) -> String {
        let mut input = self.gs2_header().as_bytes().to_vec();
        if let ChannelBinding::TlsServerEndPoint(data) = self {
            input.extend_from_slice(data);
        }
        STANDARD.encode(input)
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Result<HmacSha256, AuthError> {
    let mut mac =
        HmacSha256::new_from_slice(key).map_err(|_| AuthError::Malformed("HMAC key length"))?;
    mac.update(data);
    Ok(mac)
}

enum State {
    /// Client-first sent; waiting for server-first.
    ClientFirst {
        message: String,
        bare_start: usize,
        nonce: String,
        password: Vec<u8>,
    },
    /// Server-first checked; waiting for the salted password (PBKDF2, run by the caller).
    Deriving {
        c_attribute: String,
        bare: String,
        server_first: String,
        server_nonce: String,
    },
    /// Client-final sent; waiting for server-final.
    ClientFinal {
        message: String,
        server_key: [u8; 32],
        auth_message: String,
    },
    /// Server signature verified.
    Verified,
    /// A step failed; the exchange cannot continue.
    Failed,
}

/// A SCRAM-SHA-256 exchange. `Debug` shows the state only, never the password or keys.
pub struct ScramSha256 {
    state: State,
    max_iterations: u32,
    binding: ChannelBinding,
}

impl fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::ClientFirst { .. } => "ClientFirst",
            State::Deriving { .. } => "Deriving",
            State::ClientFinal { .. } => "ClientFinal",
            State::Verified => "Verified",
            State::Failed => "Failed",
        };
        f.debug_struct("ScramSha256")
            .field("state", &state)
            .field("max_iterations", &self.max_iterations)
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

/// The PBKDF2 step of a SCRAM exchange (from [`ScramSha256::begin_update`]): pure CPU work
/// sized by the server's iteration count, `Send`, so a driver can run it on another thread.
/// `Debug` shows the iteration count only, never the password or salt.
pub struct Pbkdf2 {
    password: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
}

impl Pbkdf2 {
    /// The iteration count the server asked for (already checked against the client's cap).
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Runs PBKDF2-HMAC-SHA-256: `Hi(password, salt, iterations)` of RFC 5802.
    #[must_use]
    pub fn run(self) -> SaltedPassword {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&self.password, &self.salt, self.iterations, &mut salted);
        SaltedPassword(salted)
    }
}

impl fmt::Debug for Pbkdf2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pbkdf2")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The salted password [`Pbkdf2::run`] derived, for [`ScramSha256::complete_update`].
/// `Debug` never shows it.
pub struct SaltedPassword([u8; 32]);

impl fmt::Debug for SaltedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SaltedPassword(..)")
    }
}

/// `printable` from RFC 5802: %x21-2B / %x2D-7E.
fn printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `saslname` escaping: `=` → `=3D`, `,` → `=2C`.
fn escape_user(user: &str, out: &mut String) {
    for c in user.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
}

impl ScramSha256 {
    /// Starts an exchange with a fresh 24-character random nonce from the OS CSPRNG.
    ///
    /// The user name is sent empty: PostgreSQL takes it from the startup message.
    pub fn new(password: &[u8]) -> Result<ScramSha256, AuthError> {
        ScramSha256::with_channel_binding(password, ChannelBinding::Unsupported)
    }

    /// Starts an exchange with a fresh random nonce and the given channel binding choice
    /// (send [`mechanism`](Self::mechanism) with the first message).
    pub fn with_channel_binding(
        password: &[u8],
        binding: ChannelBinding,
    ) -> Result<ScramSha256, AuthError> {
        let mut raw = [0u8; 18];
        getrandom::getrandom(&mut raw).map_err(|_| AuthError::Rng)?;
        ScramSha256::with_nonce_and_binding("", password, &STANDARD.encode(raw), binding)
    }

    /// Starts an exchange with a given user name and client nonce (for tests and recorded
    /// exchanges; production code should use [`ScramSha256::new`]).
    pub fn with_nonce(user: &str, password: &[u8], nonce: &str) -> Result<ScramSha256, AuthError> {
        ScramSha256::with_nonce_and_binding(user, password, nonce, ChannelBinding::Unsupported)
    }

    /// [`with_nonce`](Self::with_nonce) with a channel binding choice (for tests and recorded
    /// exchanges; production code should use [`ScramSha256::with_channel_binding`]).
    pub fn with_nonce_and_binding(
        user: &str,
        password: &[u8],
        nonce: &str,
        binding: ChannelBinding,
    ) -> Result<ScramSha256, AuthError> {
        if !printable(nonce) {
            return Err(AuthError::InvalidNonce);
        }
        if matches!(&binding, ChannelBinding::TlsServerEndPoint(data) if data.is_empty()) {
            return Err(AuthError::Malformed("empty channel binding data"));
        }
        let mut message = String::from(binding.gs2_header());
        let bare_start = message.len();
        message.push_str("n=");
        escape_user(user, &mut message);
        message.push_str(",r=");
        message.push_str(nonce);
        Ok(ScramSha256 {
            state: State::ClientFirst {
                message,
                bare_start,
                nonce: nonce.to_owned(),
                password: password.to_vec(),
            },
            max_iterations: DEFAULT_MAX_ITERATIONS,
            binding,
        })
    }

    /// The SASL mechanism this exchange runs: `SCRAM-SHA-256-PLUS` with channel binding,
    /// `SCRAM-SHA-256` otherwise.
    pub fn mechanism(&self) -> &'static str {
        self.binding.mechanism()
    }

    /// The channel binding choice this exchange was started with.
    pub fn channel_binding(&self) -> &ChannelBinding {
        &self.binding
    }

    /// Sets the largest iteration count accepted from the server.
    pub fn set_max_iterations(&mut self, max: u32) {
        self.max_iterations = max;
    }

    /// The message to send now: client-first before [`update`](Self::update), client-final
    /// after it, empty once finished.
    pub fn message(&self) -> &[u8] {
        match &self.state {
            State::ClientFirst { message, .. } | State::ClientFinal { message, .. } => {
                message.as_bytes()
            }
            State::Deriving { .. } | State::Verified | State::Failed => b"",
        }
    }

    /// Processes the server-first message (AuthenticationSASLContinue data) and prepares the
    /// client-final message: [`begin_update`](Self::begin_update), PBKDF2 in place, then
    /// [`complete_update`](Self::complete_update). On an event loop, call those two instead
    /// and run the PBKDF2 job off the loop.
    pub fn update(&mut self, server_first: &[u8]) -> Result<(), AuthError> {
        let job = self.begin_update(server_first)?;
        self.complete_update(job.run())
    }

    /// Parses and checks the server-first message (AuthenticationSASLContinue data) and returns
    /// the PBKDF2 job it asks for; then call [`complete_update`](Self::complete_update) with
    /// the job's result. No key is derived here: this step is cheap.
    pub fn begin_update(&mut self, server_first: &[u8]) -> Result<Pbkdf2, AuthError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::ClientFirst {
            message,
            bare_start,
            nonce,
            password,
        } = state
        else {
            return Err(AuthError::OutOfOrder);
        };
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| AuthError::Malformed("not UTF-8"))?;
        if let Some(e) = server_first.strip_prefix("e=") {
            return Err(AuthError::Server(e.to_owned()));
        }
        let mut parts = server_first.split(',');
        let mut next = |key: &'static str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(key))
                .ok_or(AuthError::Malformed(key))
        };
        if server_first.starts_with("m=") {
            return Err(AuthError::Malformed("unsupported mandatory extension"));
        }
        let server_nonce = next("r=")?;
        let salt = next("s=")?;
        let iterations = next("i=")?;
        let extends = server_nonce.len() > nonce.len() && server_nonce.starts_with(&nonce);
        if !(extends && printable(server_nonce)) {
            return Err(AuthError::NonceMismatch);
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| AuthError::Malformed("salt is not base64"))?;
        if salt.is_empty() {
            return Err(AuthError::Malformed("empty salt"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| AuthError::Malformed("iteration count"))?;
        if iterations < MIN_ITERATIONS {
            return Err(AuthError::TooFewIterations(iterations));
        }
        if iterations > self.max_iterations {
            return Err(AuthError::TooManyIterations {
                count: iterations,
                max: self.max_iterations,
            });
        }

        self.state = State::Deriving {
            c_attribute: self.binding.c_attribute(),
            bare: message.get(bare_start..).unwrap_or("").to_owned(),
            server_first: server_first.to_owned(),
            server_nonce: server_nonce.to_owned(),
        };
        Ok(Pbkdf2 {
            password,
            salt,
            iterations,
        })
    }

    /// Takes the salted password computed by the [`Pbkdf2`] job of
    /// [`begin_update`](Self::begin_update) and prepares the client-final message.
    pub fn complete_update(&mut self, salted: SaltedPassword) -> Result<(), AuthError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Deriving {
            c_attribute,
            bare,
            server_first,
            server_nonce,
        } = state
        else {
            return Err(AuthError::OutOfOrder);
        };
        let salted = salted.0;
        let client_key = hmac(&salted, b"Client Key")?.finalize().into_bytes();
        let stored_key = Sha256::digest(client_key);
        let server_key: [u8; 32] = hmac(&salted, b"Server Key")?.finalize().into_bytes().into();

        let mut client_final = String::with_capacity(128);
        client_final.push_str("c=");
        client_final.push_str(&c_attribute);
        client_final.push_str(",r=");
        client_final.push_str(&server_nonce);

        let auth_message = format!("{bare},{server_first},{client_final}");
        let signature = hmac(&stored_key, auth_message.as_bytes())?
            .finalize()
            .into_bytes();
        let mut proof = [0u8; 32];
        for (p, (k, s)) in proof
            .iter_mut()
            .zip(client_key.iter().zip(signature.iter()))
        {
            *p = k ^ s;
        }
        client_final.push_str(",p=");
        client_final.push_str(&STANDARD.encode(proof));

        self.state = State::ClientFinal {
            message: client_final,
            server_key,
            auth_message,
        };
        Ok(())
    }

    /// Processes the server-final message (AuthenticationSASLFinal data): verifies the server
    /// signature in constant time.
    pub fn finish(&mut self, server_final: &[u8]) -> Result<(), AuthError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::ClientFinal {
            server_key,
            auth_message,
            ..
        } = state
        else {
            return Err(AuthError::OutOfOrder);
        };
        let server_final =
            std::str::from_utf8(server_final).map_err(|_| AuthError::Malformed("not UTF-8"))?;
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(AuthError::Server(e.to_owned()));
        }
        let v = server_final
            .split(',')
            .next()
            .and_then(|p| p.strip_prefix("v="))
            .ok_or(AuthError::Malformed("v="))?;
        let v = STANDARD
            .decode(v)
            .map_err(|_| AuthError::Malformed("server signature is not base64"))?;
        hmac(&server_key, auth_message.as_bytes())?
            .verify_slice(&v)
            .map_err(|_| AuthError::InvalidServerSignature)?;
        self.state = State::Verified;
        Ok(())
    }

    /// Whether the server signature has been verified.
    pub fn is_verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    /// Call on AuthenticationOk: errors with [`AuthError::NotVerified`] unless the server
    /// signature was verified.
    pub fn ensure_verified(&self) -> Result<(), AuthError> {
        if self.is_verified() {
            Ok(())
        } else {
            Err(AuthError::NotVerified)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn start() -> ScramSha256 {
        ScramSha256::with_nonce("user", b"pencil", NONCE).unwrap()
    }

    #[test]
    fn rfc7677_vector() {
        let mut s = start();
        assert_eq!(s.message(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(s.ensure_verified(), Err(AuthError::NotVerified));
        s.update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(std::str::from_utf8(s.message()).unwrap(), CLIENT_FINAL);
        assert!(!s.is_verified());
        s.finish(SERVER_FINAL.as_bytes()).unwrap();
        assert!(s.is_verified());
        s.ensure_verified().unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("pencil"));
    }

    /// The split steps (PBKDF2 run elsewhere, here on another thread) give the RFC's bytes.
    #[test]
    fn rfc7677_vector_with_pbkdf2_off_thread() {
        let mut s = start();
        let job = s.begin_update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(job.iterations(), 4096);
        // Nothing to send while the key is being derived.
        assert_eq!(s.message(), b"");
        let dbg = format!("{job:?}");
        assert!(!dbg.contains("pencil") && dbg.contains("4096"), "{dbg}");
        let salted = std::thread::spawn(move || job.run()).join().unwrap();
        assert_eq!(format!("{salted:?}"), "SaltedPassword(..)");
        s.complete_update(salted).unwrap();
        assert_eq!(std::str::from_utf8(s.message()).unwrap(), CLIENT_FINAL);
        s.finish(SERVER_FINAL.as_bytes()).unwrap();
        s.ensure_verified().unwrap();
    }

    #[test]
    fn split_steps_out_of_order() {
        let mut s = start();
        let mut other = start();
        let salted = other.begin_update(SERVER_FIRST.as_bytes()).unwrap().run();
        // A salted password before the server-first message was seen.
        assert_eq!(s.complete_update(salted), Err(AuthError::OutOfOrder));
        // Server-final while the key is still being derived.
        let mut s = start();
        let _job = s.begin_update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            s.finish(SERVER_FINAL.as_bytes()),
            Err(AuthError::OutOfOrder)
        );
        // A second server-first while deriving.
        let mut s = start();
        let _job = s.begin_update(SERVER_FIRST.as_bytes()).unwrap();
        assert!(matches!(
            s.begin_update(SERVER_FIRST.as_bytes()),
            Err(AuthError::OutOfOrder)
        ));
    }

    #[test]
    fn wrong_server_signature() {
        let mut s = start();
        s.update(SERVER_FIRST.as_bytes()).unwrap();
        let r = s.finish(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert_eq!(r, Err(AuthError::InvalidServerSignature));
        assert_eq!(s.ensure_verified(), Err(AuthError::NotVerified));
        // Truncated signature.
        let mut s = start();
        s.update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            s.finish(b"v=6rr"),
            Err(AuthError::Malformed("server signature is not base64"))
        );
        let mut s = start();
        s.update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(s.finish(b"v=AAAA"), Err(AuthError::InvalidServerSignature));
    }

    #[test]
    fn tampered_server_first() {
        let cases = [
            // Nonce not extending ours.
            (
                "r=XOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                AuthError::NonceMismatch,
            ),
            // Nonce equal to ours (server added nothing).
            (
                "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                AuthError::NonceMismatch,
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
                AuthError::TooFewIterations(4095),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
                AuthError::TooFewIterations(0),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000",
                AuthError::TooManyIterations {
                    count: 4_000_000_000,
                    max: DEFAULT_MAX_ITERATIONS,
                },
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hvY,s=!!!,i=4096",
                AuthError::Malformed("salt is not base64"),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hvY,i=4096",
                AuthError::Malformed("s="),
            ),
            (
                "m=ext,r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22Z,i=4096",
                AuthError::Malformed("unsupported mandatory extension"),
            ),
            ("e=other-error", AuthError::Server("other-error".into())),
        ];
        for (msg, err) in cases {
            let mut s = start();
            assert_eq!(s.update(msg.as_bytes()), Err(err), "{msg}");
            // A failed exchange cannot continue.
            assert_eq!(
                s.finish(SERVER_FINAL.as_bytes()),
                Err(AuthError::OutOfOrder)
            );
        }
    }

    #[test]
    fn order_and_server_errors() {
        let mut s = start();
        assert_eq!(
            s.finish(SERVER_FINAL.as_bytes()),
            Err(AuthError::OutOfOrder)
        );
        let mut s = start();
        s.update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            s.finish(b"e=invalid-proof"),
            Err(AuthError::Server("invalid-proof".into()))
        );
        assert!(ScramSha256::with_nonce("u", b"p", "a,b").is_err());
        assert!(ScramSha256::with_nonce("u", b"p", "").is_err());
        let s = ScramSha256::with_nonce("a=b,c", b"p", "n").unwrap();
        assert_eq!(s.message(), b"n,,n=a=3Db=2Cc,r=n");
    }

    /// Known answers computed independently (Python's hashlib/hmac, from the RFC 7677
    /// vector's password, salt and nonces) for the `y,,` and `p=tls-server-end-point,,`
    /// GS2 headers.
    #[test]
    fn channel_binding_known_answers() {
        let cases = [
            (
                ChannelBinding::NotOffered,
                "SCRAM-SHA-256",
                "y,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=FoqiHTtQEDE8lz1CdaEe3tK4mS+iMDTl77SPyDS53DY=",
                "v=dI4KpiQJwBr1+V+K6U1dA6l6I4I9DUNXWND4pcpRU3U=",
            ),
            (
                ChannelBinding::TlsServerEndPoint((0u8..32).collect()),
                "SCRAM-SHA-256-PLUS",
                "p=tls-server-end-point,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=nY1Wus9a+gM2DrbQ1msXFgyhW6KM5ktOxWiU+/P/EGY=",
                "v=RwppMGddhz/J0lFYaRReBjXcQeNUFP5Qc76Lo5Exrig=",
            ),
            (
                ChannelBinding::Unsupported,
                "SCRAM-SHA-256",
                "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                CLIENT_FINAL,
                SERVER_FINAL,
            ),
        ];
        for (binding, mechanism, first, last, server_final) in cases {
            let mut s =
                ScramSha256::with_nonce_and_binding("user", b"pencil", NONCE, binding.clone())
                    .unwrap();
            assert_eq!(s.mechanism(), mechanism);
            assert_eq!(s.channel_binding(), &binding);
            assert_eq!(std::str::from_utf8(s.message()).unwrap(), first);
            s.update(SERVER_FIRST.as_bytes()).unwrap();
            assert_eq!(std::str::from_utf8(s.message()).unwrap(), last);
            s.finish(server_final.as_bytes()).unwrap();
            s.ensure_verified().unwrap();
        }
    }

    /// The server's signature covers the channel binding: a server (or a man in the middle)
    /// that saw other binding data cannot produce it.
    #[test]
    fn channel_binding_mismatch_fails_verification() {
        let mut s = ScramSha256::with_nonce_and_binding(
            "user",
            b"pencil",
            NONCE,
            ChannelBinding::TlsServerEndPoint(vec![7; 32]),
        )
        .unwrap();
        s.update(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            s.finish(b"v=RwppMGddhz/J0lFYaRReBjXcQeNUFP5Qc76Lo5Exrig="),
            Err(AuthError::InvalidServerSignature)
        );
        assert!(ScramSha256::with_nonce_and_binding(
            "u",
            b"p",
            "n",
            ChannelBinding::TlsServerEndPoint(Vec::new())
        )
        .is_err());
        let dbg = format!("{:?}", ChannelBinding::TlsServerEndPoint(vec![1, 2, 3]));
        assert_eq!(dbg, "TlsServerEndPoint(3 bytes)");
        let s = ScramSha256::with_channel_binding(b"pw", ChannelBinding::NotOffered).unwrap();
        assert!(s.message().starts_with(b"y,,n=,r="));
        assert_eq!(ChannelBinding::NotOffered.c_attribute(), "eSws");
        assert_eq!(ChannelBinding::Unsupported.c_attribute(), "biws");
    }

    #[test]
    fn random_nonce() {
        let a = ScramSha256::new(b"pw").unwrap();
        let b = ScramSha256::new(b"pw").unwrap();
        assert_ne!(a.message(), b.message());
        assert!(a.message().starts_with(b"n,,n=,r="));
        assert_eq!(a.message().len(), "n,,n=,r=".len() + 24);
    }
}
