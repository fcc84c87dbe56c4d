//! Authentication methods, users and the text of the config files we write.

use std::fmt::Write as _;

/// How host (TCP) connections authenticate. Unix-socket connections always use `trust`, which
/// the testkit itself relies on to create users and databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PgAuth {
    /// No password asked.
    #[default]
    Trust,
    /// Cleartext password (`password` in pg_hba.conf).
    Password,
    /// MD5 challenge; passwords are stored as MD5 (`password_encryption = md5`).
    Md5,
    /// SCRAM-SHA-256; passwords are stored as SCRAM verifiers.
    ScramSha256,
}

impl PgAuth {
    /// The method name as written in pg_hba.conf.
    pub fn hba_method(self) -> &'static str {
        match self {
            PgAuth::Trust => "trust",
            PgAuth::Password => "password",
            PgAuth::Md5 => "md5",
            PgAuth::ScramSha256 => "scram-sha-256",
        }
    }

    fn password_encryption(self) -> &'static str {
        match self {
            PgAuth::Md5 => "md5",
            _ => "scram-sha-256",
        }
    }
}

/// Which TCP connections pg_hba.conf admits, by transport (`host`, `hostssl`, `hostnossl`
/// lines). Only meaningful with TLS on ([`PgBuilder::tls`](crate::PgBuilder::tls)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PgHbaTls {
    /// `host`: TLS and plaintext alike.
    #[default]
    Any,
    /// `hostssl`: TLS connections only; plaintext ones are refused during startup.
    TlsOnly,
    /// `hostnossl`: plaintext connections only; TLS ones are refused during startup.
    PlainOnly,
}

impl PgHbaTls {
    /// The pg_hba.conf connection type.
    pub fn hba_type(self) -> &'static str {
        match self {
            PgHbaTls::Any => "host",
            PgHbaTls::TlsOnly => "hostssl",
            PgHbaTls::PlainOnly => "hostnossl",
        }
    }
}

/// A role created at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUser {
    /// Role name.
    pub name: String,
    /// Its password.
    pub password: String,
    /// Whether it is a superuser.
    pub superuser: bool,
}

/// The settings file included from postgresql.conf.
pub(crate) fn settings_conf(
    port: u16,
    socket_dir: &str,
    auth: PgAuth,
    extra: &[(String, String)],
) -> String {
    let mut out = String::from("# written by corelane-testkit\n");
    let base = [
        ("listen_addresses", "'127.0.0.1'".to_owned()),
        ("port", port.to_string()),
        ("unix_socket_directories", quote_literal(socket_dir)),
        ("fsync", "off".into()),
        ("synchronous_commit", "off".into()),
        ("full_page_writes", "off".into()),
        ("max_connections", "200".into()),
        (
            "password_encryption",
            quote_literal(auth.password_encryption()),
        ),
    ];
    for (name, value) in base {
        let _ = writeln!(out, "{name} = {value}");
    }
    for (name, value) in extra {
        let _ = writeln!(out, "{name} = {value}");
    }
    out
}

/// pg_hba.conf: trust over the unix socket, the configured method over TCP, on the
/// transports `tls` admits; with `replication`, replication connections over the socket too.
pub(crate) fn hba_conf(auth: PgAuth, tls: PgHbaTls, replication: bool) -> String {
    let method = auth.hba_method();
    let kind = tls.hba_type();
    let replication = if replication {
        "local replication all trust\n"
    } else {
        ""
    };
    format!(
        "# written by corelane-testkit\n\
         local all all trust\n\
         {replication}\
         {kind} all all 127.0.0.1/32 {method}\n\
         {kind} all all ::1/128 {method}\n"
    )
}

/// `CREATE ROLE` for `user`.
pub(crate) fn create_role(user: &PgUser) -> String {
    format!(
        "CREATE ROLE {} LOGIN {} PASSWORD {}",
        quote_ident(&user.name),
        if user.superuser {
            "SUPERUSER"
        } else {
            "NOSUPERUSER"
        },
        quote_literal(&user.password)
    )
}

/// `ALTER ROLE` setting the password of an existing role.
pub(crate) fn set_password(name: &str, password: &str) -> String {
    format!(
        "ALTER ROLE {} PASSWORD {}",
        quote_ident(name),
        quote_literal(password)
    )
}

/// SQL string literal.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// SQL identifier.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Percent-encodes a URL userinfo component (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(encode_userinfo("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }

    #[test]
    fn md5_sets_password_encryption() {
        let conf = settings_conf(5555, "/tmp/x", PgAuth::Md5, &[]);
        assert!(conf.contains("password_encryption = 'md5'"));
        assert!(conf.contains("port = 5555"));
        assert!(
            hba_conf(PgAuth::Md5, PgHbaTls::Any, false).contains("host all all 127.0.0.1/32 md5")
        );
        let hba = hba_conf(PgAuth::ScramSha256, PgHbaTls::TlsOnly, true);
        assert!(hba.contains("local replication all trust"), "{hba}");
        assert!(
            hba.contains("hostssl all all 127.0.0.1/32 scram-sha-256"),
            "{hba}"
        );
        assert!(!hba.contains("\nhost "), "{hba}");
        let hba = hba_conf(PgAuth::ScramSha256, PgHbaTls::PlainOnly, false);
        assert!(
            hba.contains("hostnossl all all ::1/128 scram-sha-256"),
            "{hba}"
        );
    }
}
