//! corelane-redis: a pipelined Redis client on corelane-runtime (being built).

mod config;
mod error;
mod secret;
mod url;

pub use config::{Addr, Config, Protocol, DEFAULT_PORT};
pub use error::{Error, ServerError};
pub use secret::Secret;
