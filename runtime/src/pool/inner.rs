//! What an exclusive [`Pool`](super::Pool) and its checked-out [`Pooled`](super::Pooled)
//! permits share (a leaf: the permit returns its connection here without depending on the
//! pool's module).

use std::cell::RefCell;

use super::connect::Connector;
use super::slots::Slots;
use super::{Config, Expiry, Manager};

/// The pool's state, behind the `Rc` every handle and permit holds.
pub(crate) struct Inner<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: Config,
    pub(crate) expiry: Expiry,
    pub(crate) connector: Connector,
    pub(crate) slots: RefCell<Slots<M::Conn>>,
}
