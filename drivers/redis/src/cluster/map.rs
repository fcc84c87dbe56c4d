//! The slot map: which node serves each of the 16384 slots. Immutable once built; a refresh
//! builds a new one and swaps the `Arc` (see client.rs), so workers read it without locks.

use std::time::Instant;

use super::discover::{Layout, NodeAddr};
use super::slot::SLOTS;
use crate::{Client, Error};

/// No node serves this slot (the map says so: a shard failing over, or an empty map).
const NONE: u16 = u16::MAX;

/// A master and the client of its connections (that client's pools are per worker).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) addr: NodeAddr,
    pub(crate) client: Client,
}

/// Slot → node.
#[derive(Debug)]
pub(crate) struct SlotMap {
    /// Per slot, an index into `nodes`, or [`NONE`].
    slots: Vec<u16>,
    nodes: Vec<Node>,
    /// Per node of `nodes` (same index), its replicas (empty when replica reads are off:
    /// no client is made for them then).
    replicas: Vec<Vec<Node>>,
    /// How many slots have a node: counted once when the map is made (every call asks, and
    /// counting 16384 entries per call cost more than the rest of routing).
    served: usize,
    /// When it was read from the cluster (a periodic refresh starts from it).
    pub(crate) made: Instant,
}

impl SlotMap {
    /// A map serving no slot: every keyed call first runs a discovery.
    pub(crate) fn empty() -> SlotMap {
        SlotMap {
            slots: vec![NONE; usize::from(SLOTS)],
            nodes: Vec::new(),
            replicas: Vec::new(),
            served: 0,
            made: Instant::now(),
        }
    }

    /// The map `layout` describes, with `client_for` giving each node's client; the replicas
    /// of each master too when `with_replicas`.
    pub(crate) fn build(
        layout: &Layout,
        with_replicas: bool,
        mut client_for: impl FnMut(&NodeAddr) -> Result<Client, Error>,
    ) -> Result<SlotMap, Error> {
        let mut map = SlotMap::empty();
        for (start, end, addr) in &layout.ranges {
            let index = map.index_of(addr, &mut client_for)?;
            for slot in *start..=(*end).min(SLOTS - 1) {
                if let Some(entry) = map.slots.get_mut(usize::from(slot)) {
                    *entry = index;
                }
            }
        }
        map.served = count_served(&map.slots);
        map.replicas = vec![Vec::new(); map.nodes.len()];
        if with_replicas {
            for (master, replicas) in &layout.replicas {
                let Some(i) = map.nodes.iter().position(|n| &n.addr == master) else {
                    continue; // the replicas of a master that serves no slot
                };
                let mut nodes = Vec::with_capacity(replicas.len());
                for addr in replicas {
                    nodes.push(Node {
                        addr: addr.clone(),
                        client: client_for(addr)?,
                    });
                }
                if let Some(entry) = map.replicas.get_mut(i) {
                    *entry = nodes;
                }
            }
        }
        Ok(map)
    }

    /// The replicas of the master serving `slot` (none known: empty).
    pub(crate) fn replicas(&self, slot: u16) -> &[Node] {
        self.slots
            .get(usize::from(slot))
            .and_then(|index| self.replicas.get(usize::from(*index)))
            .map_or(&[], Vec::as_slice)
    }

    fn index_of(
        &mut self,
        addr: &NodeAddr,
        client_for: &mut impl FnMut(&NodeAddr) -> Result<Client, Error>,
    ) -> Result<u16, Error> {
        if let Some(i) = self.nodes.iter().position(|n| &n.addr == addr) {
            return u16::try_from(i).map_err(|_| Error::cluster("too many nodes"));
        }
        let index = u16::try_from(self.nodes.len())
            .ok()
            .filter(|i| *i < NONE)
            .ok_or_else(|| Error::cluster("too many nodes"))?;
        self.nodes.push(Node {
            addr: addr.clone(),
            client: client_for(addr)?,
        });
        Ok(index)
    }

    /// The node serving `slot`.
    pub(crate) fn node(&self, slot: u16) -> Option<&Node> {
        let index = *self.slots.get(usize::from(slot))?;
        self.nodes.get(usize::from(index))
    }

    /// The `n`-th node (mod the count): for commands any node answers.
    pub(crate) fn any(&self, n: usize) -> Option<&Node> {
        self.nodes.get(n % self.nodes.len().max(1))
    }

    /// Every master in the map.
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// How many slots have a node.
    pub(crate) fn served(&self) -> usize {
        self.served
    }

    /// A copy with `slot` served by `node` (what a `MOVED` reply says, until the next
    /// refresh reads the whole layout).
    pub(crate) fn with_moved(&self, slot: u16, node: Node) -> SlotMap {
        let mut slots = self.slots.clone();
        let mut nodes = self.nodes.clone();
        let mut replicas = self.replicas.clone();
        let index = match nodes.iter().position(|n| n.addr == node.addr) {
            Some(i) => i,
            None => {
                // Its replicas are unknown until the next refresh: its reads go to it.
                nodes.push(node);
                replicas.push(Vec::new());
                nodes.len() - 1
            }
        };
        if let (Some(entry), Ok(index)) = (slots.get_mut(usize::from(slot)), u16::try_from(index)) {
            *entry = index;
        }
        SlotMap {
            served: count_served(&slots),
            slots,
            nodes,
            replicas,
            made: self.made,
        }
    }
}

/// How many entries of `slots` name a node.
fn count_served(slots: &[u16]) -> usize {
    slots.iter().filter(|s| **s != NONE).count()
}
