//! Finding executables, running helper commands with a deadline, and reading log tails.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often a deadline loop polls a child process or a socket.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// Looks `name` up in the directories of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an execute bit set.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The last `lines` lines of a text file, or a note saying why it could not be read.
/// `Ok` while `child` runs; once it has exited, forgets it and returns
/// [`Error::Exited`] with the tail of its `log`.
pub(crate) fn check_running(
    child: &mut Option<Child>,
    server: &'static str,
    port: u16,
    log: &Path,
) -> Result<()> {
    let status = match child {
        Some(running) => running
            .try_wait()
            .map_err(|e| Error::io(format!("polling {server}"), e))?,
        None => return Err(Error::Config(format!("{server} is not running"))),
    };
    match status {
        None => Ok(()),
        Some(status) => {
            *child = None;
            Err(Error::Exited {
                server,
                port,
                status: status.to_string(),
                log_tail: log_tail(log, 20),
            })
        }
    }
}

pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

/// Renders a command line for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// Runs `cmd` to completion with stdout and stderr appended to `out_file`.
///
/// Output goes to a file, not a pipe, so a daemon the command leaves behind (pg_ctl's postmaster)
/// can never keep us waiting for end-of-file. The child is killed after `timeout`.
pub(crate) fn run(mut cmd: Command, out_file: &Path, timeout: Duration) -> Result<()> {
    let what = describe(&cmd);
    let out = File::options()
        .create(true)
        .append(true)
        .open(out_file)
        .map_err(|e| Error::io(format!("opening {}", out_file.display()), e))?;
    let err = out
        .try_clone()
        .map_err(|e| Error::io("duplicating an output file handle", e))?;
    let offset = out.metadata().map(|m| m.len()).unwrap_or(0);
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("spawning `{what}`"), e))?;
    let status = wait_deadline(&mut child, timeout)
        .map_err(|e| Error::io(format!("waiting for `{what}`"), e))?;
    match status {
        Some(s) if s.success() => Ok(()),
        other => {
            let status = match other {
                Some(s) => s.to_string(),
                None => format!("timed out after {timeout:?}"),
            };
            Err(Error::Command {
                command: what,
                status,
                output: output_since(out_file, offset),
            })
        }
    }
}

/// The text appended to `path` after byte `offset`, limited to its last 40 lines.
pub(crate) fn output_since(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(40)..].join("\n")
}

/// Waits for `child` until `timeout`; kills and reaps it on timeout and returns `None`.
pub(crate) fn wait_deadline(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// The current length of `path` (0 if it does not exist): an offset for [`output_since`].
pub(crate) fn file_len(path: &Path) -> u64 {
    path.metadata().map(|m| m.len()).unwrap_or(0)
}

/// Kills `child` (SIGKILL) and reaps it. Errors are ignored: the child may already be gone.
pub(crate) fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The effective user id of this process.
///
/// `/proc/self` is owned by the effective uid; `id -u` is the fallback off Linux.
pub(crate) fn euid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        return Some(meta.uid());
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// An OS account helper commands are run as.
#[derive(Debug, Clone)]
pub(crate) enum RunAs {
    /// Run as ourselves.
    Current,
    /// Run as another user via `runuser -u NAME --` or `su NAME -s /bin/sh -c`.
    User {
        /// Account name.
        name: String,
        /// Its uid, for chown.
        uid: u32,
        /// Its primary gid, for chown.
        gid: u32,
        /// Path of `runuser`, if present; `su` otherwise.
        runuser: Option<PathBuf>,
    },
}

impl RunAs {
    /// `Current` unless we are root, in which case the named account (which must exist).
    pub(crate) fn unprivileged(name: &str) -> Result<Self> {
        if euid() != Some(0) {
            return Ok(RunAs::Current);
        }
        let (uid, gid) = lookup_user(name).ok_or_else(|| Error::NoSuchUser(name.to_owned()))?;
        let runuser = find_on_path("runuser").or_else(|| {
            ["/usr/sbin/runuser", "/sbin/runuser"]
                .iter()
                .map(PathBuf::from)
                .find(|p| is_executable(p))
        });
        if runuser.is_none() && find_on_path("su").is_none() {
            return Err(Error::MissingBinary {
                binary: "runuser or su".into(),
                searched: "PATH, /usr/sbin, /sbin".into(),
                install: "apt-get install util-linux",
            });
        }
        Ok(RunAs::User {
            name: name.to_owned(),
            uid,
            gid,
            runuser,
        })
    }

    /// A command running `program args...` as this account.
    pub(crate) fn command<I, S>(&self, program: &Path, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        match self {
            RunAs::Current => {
                let mut cmd = Command::new(program);
                cmd.args(args);
                cmd
            }
            RunAs::User {
                name,
                runuser: Some(runuser),
                ..
            } => {
                let mut cmd = Command::new(runuser);
                cmd.arg("-u").arg(name).arg("--").arg(program).args(args);
                cmd
            }
            RunAs::User {
                name,
                runuser: None,
                ..
            } => {
                let mut line = shell_quote(&program.to_string_lossy());
                for arg in args {
                    line.push(' ');
                    line.push_str(&shell_quote(&arg.as_ref().to_string_lossy()));
                }
                let mut cmd = Command::new("su");
                cmd.arg(name).arg("-s").arg("/bin/sh").arg("-c").arg(line);
                cmd
            }
        }
    }

    /// Gives `path` to this account (no-op for `Current`).
    pub(crate) fn chown(&self, path: &Path) -> Result<()> {
        match self {
            RunAs::Current => Ok(()),
            RunAs::User { uid, gid, .. } => std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .map_err(|e| Error::io(format!("chown {}", path.display()), e)),
        }
    }
}

/// Single-quotes `s` for `/bin/sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Uid and primary gid of `name`, from `/etc/passwd` or else `id`.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == name {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return Some((uid, gid));
                }
            }
        }
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(name).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_escapes_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn log_tail_keeps_last_lines() {
        let dir = crate::tempdir::TempDir::new("unit").unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "1\n2\n3\n4\n").unwrap();
        assert_eq!(log_tail(&p, 2), "3\n4");
    }
}
