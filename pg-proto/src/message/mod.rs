//! Protocol messages: [`frontend`] encoders and [`backend`] parsers.

pub mod backend;
pub mod frontend;
