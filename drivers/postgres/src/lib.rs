//! Not yet built: see the issue tracker. This crate is a placeholder in the workspace.
