//! TCP keepalive on a connected socket (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
//! `TCP_KEEPCNT`).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// TCP keepalive settings: probes sent on an idle connection so a peer that vanished (a
/// crashed host, a dropped NAT mapping) is noticed. `None` in a field keeps the system's
/// default for it (Linux: 7200 s idle, 75 s interval, 9 probes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`, whole seconds, at least 1).
    pub idle: Option<Duration>,
    /// Time between probes (`TCP_KEEPINTVL`, whole seconds, at least 1).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`, at least 1).
    pub count: Option<u32>,
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket owned by the caller's stream; `value` lives across the
    // call and `len` is its size.
    let rc = unsafe { libc::setsockopt(fd, level, name, (&raw const value).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket owned by the caller's stream; `value` and `len` are
    // valid for writes of their sizes.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &raw mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn secs(d: Duration) -> libc::c_int {
    libc::c_int::try_from(d.as_secs().max(1)).unwrap_or(libc::c_int::MAX)
}

/// Turns keepalive on with `settings`, or off (`None`).
pub(crate) fn set(fd: RawFd, settings: Option<TcpKeepalive>) -> io::Result<()> {
    let Some(k) = settings else {
        return set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0);
    };
    set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    if let Some(idle) = k.idle {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(idle))?;
    }
    if let Some(interval) = k.interval {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(interval))?;
    }
    if let Some(count) = k.count {
        let count = libc::c_int::try_from(count.max(1)).unwrap_or(libc::c_int::MAX);
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, count)?;
    }
    Ok(())
}

/// The socket's keepalive state: `None` when off, else every value in effect.
pub(crate) fn get(fd: RawFd) -> io::Result<Option<TcpKeepalive>> {
    if get_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? == 0 {
        return Ok(None);
    }
    let secs = |name| -> io::Result<Option<Duration>> {
        let v = get_int(fd, libc::IPPROTO_TCP, name)?;
        Ok(Some(Duration::from_secs(u64::try_from(v).unwrap_or(0))))
    };
    Ok(Some(TcpKeepalive {
        idle: secs(libc::TCP_KEEPIDLE)?,
        interval: secs(libc::TCP_KEEPINTVL)?,
        count: Some(u32::try_from(get_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT)?).unwrap_or(0)),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn set_and_read_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = stream.as_raw_fd();
        set(fd, None).unwrap();
        assert_eq!(get(fd).unwrap(), None);
        let wanted = TcpKeepalive {
            idle: Some(Duration::from_secs(31)),
            interval: Some(Duration::from_secs(7)),
            count: Some(4),
        };
        set(fd, Some(wanted)).unwrap();
        assert_eq!(get(fd).unwrap(), Some(wanted));
        // Unset fields keep what the socket had.
        set(
            fd,
            Some(TcpKeepalive {
                count: Some(2),
                ..TcpKeepalive::default()
            }),
        )
        .unwrap();
        assert_eq!(
            get(fd).unwrap().and_then(|k| k.idle),
            Some(Duration::from_secs(31))
        );
        assert_eq!(get(fd).unwrap().and_then(|k| k.count), Some(2));
        set(fd, None).unwrap();
        assert_eq!(get(fd).unwrap(), None);
    }
}
