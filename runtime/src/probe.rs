//! The io_uring probe that runs before glommio is touched.
//!
//! glommio panics, or in some paths exits the process, when the kernel refuses io_uring (an old
//! kernel, `kernel.io_uring_disabled=2`, Docker's default seccomp profile). We ask the kernel
//! ourselves first, with the raw `io_uring_setup` syscall, so the caller gets a typed error.

use crate::Error;

/// Returns `Ok(())` when this process may create an io_uring.
pub fn probe_io_uring() -> Result<(), Error> {
    // io_uring_params is 120 bytes on every kernel that has io_uring; the kernel writes into it.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup(entries, params) reads and writes exactly size_of(io_uring_params)
    // bytes at `params`, which points at a live, writable 120-byte buffer. It returns a new fd
    // or -1; it has no other effect on our memory.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return Err(Error::IoUringUnavailable {
            reason: err.to_string(),
        });
    }
    // SAFETY: the fd was just returned to us by the kernel and nothing else owns it.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_succeeds_on_this_machine() {
        super::probe_io_uring().unwrap();
    }
}
