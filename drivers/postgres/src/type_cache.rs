//! One connection's looked-up types, by OID: a leaf module (the connection holds it; the
//! lookup in `type_lookup` fills it).

use std::collections::HashMap;

use corelane_pg_proto::types::{Oid, Type};

/// How many looked-up types one connection keeps: past it the cache starts over (a schema
/// with more user types than this, or DDL churning through OIDs, costs lookups, not memory).
pub(crate) const MAX_CACHED: usize = 4096;

/// One connection's looked-up types, by OID.
#[derive(Default)]
pub(crate) struct TypeCache {
    pub(crate) types: HashMap<Oid, Type>,
}

impl TypeCache {
    /// The type `oid`: built in, or looked up earlier on this connection.
    pub(crate) fn get(&self, oid: Oid) -> Option<Type> {
        Type::from_oid(oid).or_else(|| self.types.get(&oid).cloned())
    }

    /// True when `oid` needs no lookup.
    pub(crate) fn knows(&self, oid: Oid) -> bool {
        oid == 0 || Type::from_oid(oid).is_some() || self.types.contains_key(&oid)
    }

    /// The type `oid`, or a stand-in naming its OID when it was never looked up.
    pub(crate) fn resolve(&self, oid: Oid) -> Type {
        self.get(oid).unwrap_or_else(|| Type::unresolved(oid))
    }

    /// Forgets every looked-up type (a type may have been altered).
    pub(crate) fn clear(&mut self) {
        self.types.clear();
    }
}
