//! What keeps GC passes coming: every change of the watched state, of the cluster view or of
//! the session queues a pass (the queue holds it once however often it is added, and changes
//! within [`PASS_SPACING`] of the last one share a pass), the periodic resync queues one as a
//! safety net, and the cluster watches run exactly while the KV listing shows this agent's
//! session holding the GC lock.

use std::sync::Arc;
use std::time::Duration;

use shepard_reconcilers::gc::lead;

use super::gc::GcKey;

/// Shortest time between two passes queued by changes. A pass reads the whole prefix (about
/// 11 ms for 20 000 keys, `examples/gc_pass_bench.rs`), and in a large cluster the prefix
/// changes many times a second; garbage waiting a second longer costs nothing.
pub const PASS_SPACING: Duration = Duration::from_secs(1);
use super::shared::Shared;
use crate::observe::cluster::{ClusterStore, ClusterWatches};
use crate::runtime::{WorkQueue, controller};

/// Runs until the watched state's channels close; the resync half ends with the queue.
pub async fn drive(
    shared: Arc<Shared>,
    queue: WorkQueue<GcKey>,
    cluster: ClusterStore,
    mut watches: ClusterWatches,
    resync_interval: Duration,
) {
    let enqueue = {
        let queue = queue.clone();
        async move {
            let mut changes = shared.store.subscribe();
            let mut cluster_changes = cluster.subscribe();
            let mut session = shared.session.clone();
            loop {
                watches.set_running(holds_gc_lock(&shared));
                queue.add(GcKey);
                tokio::time::sleep(PASS_SPACING).await;
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    changed = cluster_changes.changed() => if changed.is_err() { return },
                    changed = session.changed() => if changed.is_err() { return },
                }
            }
        }
    };
    let resync = controller::resync(queue, resync_interval, || vec![GcKey]);
    tokio::join!(enqueue, resync);
}

/// Whether the KV listing shows our session holding the GC lock.
pub fn holds_gc_lock(shared: &Shared) -> bool {
    let Some(session) = shared.session() else {
        return false;
    };
    let key = lead::lock_key(&shared.ctx.prefix);
    shared
        .store
        .read()
        .kv
        .as_ref()
        .and_then(|kv| kv.get(&key))
        .and_then(|pair| pair.session.as_deref())
        == Some(session.as_str())
}
