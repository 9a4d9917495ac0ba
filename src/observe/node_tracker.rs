//! Which Nomad nodes are gone, and since when: GC removes a node's subtree only after it has
//! been down or absent for `node_cleanup_timeout`. The node listing (`/v1/nodes`) carries no
//! `StatusUpdatedAt`, so a down node's time comes from its own record (`/v1/node/:id`), read
//! once per change of the node; a node that vanishes from the listing counts as absent from
//! the moment this agent saw it vanish. Names are what keys carry; when several registrations
//! share a name (a rebuilt machine), the liveliest one speaks for it.

use std::collections::BTreeMap;

use shepard_reconcilers::Timestamp;
use shepard_reconcilers::gc::{GcNode, NodeStatus};

use crate::nomad::models::{NodeListStub, NodeStatus as NomadNodeStatus};

/// One node name as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    status: NodeStatus,
    since: Timestamp,
    /// The registration (ID, `ModifyIndex`) `since` was read for, when it came from Nomad.
    source: Option<(String, u64)>,
}

/// A down node whose `StatusUpdatedAt` should be read from `/v1/node/:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinceQuery {
    pub name: String,
    pub node_id: String,
    pub modify_index: u64,
}

/// The nodes of the cluster as GC sees them.
#[derive(Debug, Clone, Default)]
pub struct NodeTracker {
    listed_since: Option<Timestamp>,
    nodes: BTreeMap<String, Tracked>,
}

impl NodeTracker {
    /// Takes a new listing seen at `now`; returns the down nodes whose `StatusUpdatedAt` is
    /// not known yet for their current registration.
    pub fn update(&mut self, stubs: &[NodeListStub], now: Timestamp) -> Vec<SinceQuery> {
        self.listed_since.get_or_insert(now);
        let mut listed: BTreeMap<&str, &NodeListStub> = BTreeMap::new();
        for stub in stubs {
            let entry = listed.entry(stub.name.as_str()).or_insert(stub);
            if liveliness(status_of(stub)) > liveliness(status_of(entry)) {
                *entry = stub;
            }
        }
        let mut queries = Vec::new();
        for (name, stub) in &listed {
            let status = status_of(stub);
            let source = Some((stub.id.clone(), stub.modify_index));
            let tracked = self.nodes.entry((*name).to_owned()).or_insert(Tracked {
                status,
                since: now,
                source: None,
            });
            if tracked.status != status {
                *tracked = Tracked {
                    status,
                    since: now,
                    source: None,
                };
            }
            if status == NodeStatus::Down && tracked.source != source {
                queries.push(SinceQuery {
                    name: (*name).to_owned(),
                    node_id: stub.id.clone(),
                    modify_index: stub.modify_index,
                });
            }
        }
        for (name, tracked) in &mut self.nodes {
            if !listed.contains_key(name.as_str()) && tracked.status != NodeStatus::Absent {
                *tracked = Tracked {
                    status: NodeStatus::Absent,
                    since: now,
                    source: None,
                };
            }
        }
        queries
    }

    /// Records the `StatusUpdatedAt` Nomad reports for a down node's registration. Ignored
    /// when the node changed since the query, or the answer is not a down node.
    pub fn set_since(&mut self, query: &SinceQuery, status: &NomadNodeStatus, since: Timestamp) {
        let Some(tracked) = self.nodes.get_mut(&query.name) else {
            return;
        };
        if tracked.status == NodeStatus::Down && *status == NomadNodeStatus::Down {
            tracked.since = since;
            tracked.source = Some((query.node_id.clone(), query.modify_index));
        }
    }

    /// Since when the listing has been complete; `None` before the first listing.
    pub fn listed_since(&self) -> Option<Timestamp> {
        self.listed_since
    }

    /// Every node name seen, with its status and since when.
    pub fn nodes(&self) -> Vec<GcNode> {
        self.nodes
            .iter()
            .map(|(name, t)| GcNode {
                name: name.clone(),
                status: t.status,
                since: t.since,
            })
            .collect()
    }
}

/// A status this version does not know counts as ready: GC never removes what it cannot judge.
fn status_of(stub: &NodeListStub) -> NodeStatus {
    match stub.status {
        NomadNodeStatus::Initializing => NodeStatus::Initializing,
        NomadNodeStatus::Down => NodeStatus::Down,
        NomadNodeStatus::Disconnected => NodeStatus::Disconnected,
        NomadNodeStatus::Ready | NomadNodeStatus::Other(_) => NodeStatus::Ready,
    }
}

fn liveliness(status: NodeStatus) -> u8 {
    match status {
        NodeStatus::Ready => 4,
        NodeStatus::Initializing => 3,
        NodeStatus::Disconnected => 2,
        NodeStatus::Down => 1,
        NodeStatus::Absent => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub(id: &str, name: &str, status: NomadNodeStatus, modify_index: u64) -> NodeListStub {
        NodeListStub {
            id: id.into(),
            name: name.into(),
            status,
            modify_index,
            ..NodeListStub::default()
        }
    }

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_unix_secs(1_700_000_000 + secs)
    }

    fn status(tracker: &NodeTracker, name: &str) -> (NodeStatus, Timestamp) {
        let node = tracker
            .nodes()
            .into_iter()
            .find(|n| n.name == name)
            .unwrap();
        (node.status, node.since)
    }

    #[test]
    fn a_down_node_takes_its_time_from_nomad_once_per_change() {
        let mut tracker = NodeTracker::default();
        let up = [stub("id-a", "a", NomadNodeStatus::Ready, 5)];
        assert!(tracker.update(&up, t(0)).is_empty());
        assert_eq!(tracker.listed_since(), Some(t(0)));
        let down = [stub("id-a", "a", NomadNodeStatus::Down, 9)];
        let queries = tracker.update(&down, t(10));
        assert_eq!(queries.len(), 1);
        assert_eq!(status(&tracker, "a"), (NodeStatus::Down, t(10)));
        tracker.set_since(&queries[0], &NomadNodeStatus::Down, t(8));
        assert_eq!(status(&tracker, "a"), (NodeStatus::Down, t(8)));
        assert!(tracker.update(&down, t(20)).is_empty(), "already known");
        let up_again = [stub("id-a", "a", NomadNodeStatus::Ready, 12)];
        tracker.update(&up_again, t(30));
        assert_eq!(status(&tracker, "a"), (NodeStatus::Ready, t(30)));
        assert_eq!(tracker.listed_since(), Some(t(0)));
    }

    #[test]
    fn an_answer_for_a_node_that_changed_meanwhile_is_ignored() {
        let mut tracker = NodeTracker::default();
        let queries = tracker.update(&[stub("id-a", "a", NomadNodeStatus::Down, 9)], t(10));
        tracker.update(&[stub("id-a", "a", NomadNodeStatus::Ready, 10)], t(11));
        tracker.set_since(&queries[0], &NomadNodeStatus::Down, t(1));
        assert_eq!(status(&tracker, "a"), (NodeStatus::Ready, t(11)));
    }

    #[test]
    fn a_vanished_node_is_absent_from_when_it_was_missed() {
        let mut tracker = NodeTracker::default();
        tracker.update(&[stub("id-a", "a", NomadNodeStatus::Ready, 5)], t(0));
        tracker.update(&[], t(40));
        tracker.update(&[], t(50));
        assert_eq!(status(&tracker, "a"), (NodeStatus::Absent, t(40)));
    }

    #[test]
    fn a_name_registered_twice_is_as_alive_as_its_liveliest_registration() {
        let mut tracker = NodeTracker::default();
        let listing = [
            stub("old", "a", NomadNodeStatus::Down, 3),
            stub("new", "a", NomadNodeStatus::Ready, 7),
        ];
        assert!(tracker.update(&listing, t(0)).is_empty());
        assert_eq!(status(&tracker, "a"), (NodeStatus::Ready, t(0)));
    }
}
