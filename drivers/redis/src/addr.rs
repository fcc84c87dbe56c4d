//! Where a server is: the one type every module that connects names (a leaf: it depends on
//! nothing of the crate).

use std::path::PathBuf;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Addr {
    /// TCP; the host may be a name (resolved off the worker) or an IP literal.
    Tcp {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix(PathBuf),
}
