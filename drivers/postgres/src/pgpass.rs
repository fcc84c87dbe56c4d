//! The password file (`~/.pgpass`, `passfile`, `PGPASSFILE`), with libpq's format and rules.
//!
//! Each line is `hostname:port:database:username:password`; `#` starts a comment line. In
//! the first four fields `*` alone matches anything; `\:` and `\\` stand for `:` and `\` in
//! any field. The first line that matches wins. A Unix-domain socket connection matches the
//! host name `localhost` (as well as its socket directory written out). On Unix the file is
//! ignored, with a note, when it is not a plain file or when its group or others have any
//! access to it (it must be `0600` or less), as libpq does.

use std::path::Path;

/// What a connection is looked up by.
pub(crate) struct Target<'a> {
    /// Host names a line's first field may match (the host, or `localhost` for a socket).
    pub(crate) hosts: &'a [&'a str],
    pub(crate) port: u16,
    pub(crate) database: &'a str,
    pub(crate) user: &'a str,
}

/// What reading the file gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The password of the first matching line.
    Found(String),
    /// The file exists and was read, no line matched (or it does not exist).
    NoMatch,
    /// The file was skipped; the note says why.
    Skipped(String),
}

/// Looks `target` up in the password file at `path`. A file that does not exist is no match,
/// as in libpq.
pub(crate) fn lookup(path: &Path, target: &Target<'_>) -> Lookup {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::NoMatch,
        Err(e) => return Lookup::Skipped(format!("password file {} skipped: {e}", path.display())),
    };
    if !meta.is_file() {
        return Lookup::Skipped(format!(
            "password file {} skipped: not a plain file",
            path.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Lookup::Skipped(format!(
                "password file {} skipped: it has group or world access; permissions should be u=rw (0600) or less",
                path.display()
            ));
        }
    }
    match std::fs::read(path) {
        Ok(bytes) => match find(&String::from_utf8_lossy(&bytes), target) {
            Some(password) => Lookup::Found(password),
            None => Lookup::NoMatch,
        },
        Err(e) => Lookup::Skipped(format!("password file {} skipped: {e}", path.display())),
    }
}

/// The password of the first line of `text` that matches `target`.
pub(crate) fn find(text: &str, target: &Target<'_>) -> Option<String> {
    let port = target.port.to_string();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split(line);
        // Fewer than five fields: libpq skips the line. More: the password ends at the
        // fifth unescaped colon.
        let [host, port_f, db, user, password, ..] = fields.as_slice() else {
            continue;
        };
        if host.matches_any(target.hosts)
            && port_f.matches(&port)
            && db.matches(target.database)
            && user.matches(target.user)
        {
            return Some(password.value.clone());
        }
    }
    None
}

/// One field of a line: its text with escapes resolved, and whether it was a bare `*`.
struct Field {
    value: String,
    wildcard: bool,
}

impl Field {
    fn matches(&self, s: &str) -> bool {
        self.wildcard || self.value == s
    }
    fn matches_any(&self, candidates: &[&str]) -> bool {
        self.wildcard || candidates.iter().any(|c| self.value == *c)
    }
}

/// Splits a line on unescaped colons, resolving `\x` to `x`.
fn split(line: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut value = String::new();
    let mut raw_star = true;
    let mut raw_len = 0usize;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => {
                fields.push(Field {
                    wildcard: raw_star && raw_len == 1,
                    value: std::mem::take(&mut value),
                });
                raw_star = true;
                raw_len = 0;
            }
            '\\' => {
                raw_star = false;
                raw_len += 1;
                // A trailing backslash stands for itself.
                value.push(chars.next().unwrap_or('\\'));
            }
            c => {
                raw_star &= c == '*';
                raw_len += 1;
                value.push(c);
            }
        }
    }
    fields.push(Field {
        wildcard: raw_star && raw_len == 1,
        value,
    });
    fields
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn target<'a>(hosts: &'a [&'a str], port: u16, db: &'a str, user: &'a str) -> Target<'a> {
        Target {
            hosts,
            port,
            database: db,
            user,
        }
    }

    #[test]
    fn first_match_wins_with_wildcards_and_escapes() {
        let text = "# comment:*:*:*:nope\n\
                    \n\
                    short:line\n\
                    db.example:5432:app:bob:first\n\
                    *:5432:app:bob:second\n\
                    *:*:*:*:fallback\r\n";
        let t = target(&["db.example"], 5432, "app", "bob");
        assert_eq!(find(text, &t).as_deref(), Some("first"));
        let t = target(&["other"], 5432, "app", "bob");
        assert_eq!(find(text, &t).as_deref(), Some("second"));
        let t = target(&["other"], 5433, "app", "bob");
        assert_eq!(find(text, &t).as_deref(), Some("fallback"));
        assert_eq!(find("h:1:d:u:p", &target(&["h"], 2, "d", "u")), None);
    }

    #[test]
    fn escapes() {
        let text = r"h\:x:5432:d\\b:u\*:pa\:ss\\word";
        let t = target(&["h:x"], 5432, r"d\b", "u*");
        assert_eq!(find(text, &t).as_deref(), Some(r"pa:ss\word"));
        // An escaped star is a literal star, not a wildcard.
        assert_eq!(find(text, &target(&["h:x"], 5432, r"d\b", "someone")), None);
        // The password ends at the next unescaped colon.
        assert_eq!(
            find("*:*:*:*:pw:extra", &target(&["h"], 1, "d", "u")).as_deref(),
            Some("pw")
        );
        // `**` is not a wildcard.
        assert_eq!(find("**:*:*:*:pw", &target(&["h"], 1, "d", "u")), None);
    }

    #[test]
    fn localhost_matches_sockets() {
        let text = "localhost:5432:*:*:local\n";
        let t = target(&["/var/run/postgresql", "localhost"], 5432, "d", "u");
        assert_eq!(find(text, &t).as_deref(), Some("local"));
        assert_eq!(find(text, &target(&["db"], 5432, "d", "u")), None);
    }

    #[test]
    fn file_permissions_and_absence() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "corelane-pgpass-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        let t = target(&["h"], 5432, "d", "u");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, &t), Lookup::Found("secret".into()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        match lookup(&path, &t) {
            Lookup::Skipped(note) => assert!(note.contains("group or world"), "{note}"),
            other => panic!("{other:?}"),
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(matches!(lookup(&path, &t), Lookup::Skipped(_)));
        assert_eq!(lookup(&dir.join("absent"), &t), Lookup::NoMatch);
        assert!(matches!(lookup(&dir, &t), Lookup::Skipped(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
