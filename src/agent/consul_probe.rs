//! Keeps the `consul` readiness condition current without polling: it rides on a blocking
//! watch of the agent's KV prefix. Every answer (a change, or a wait that ran out) means Consul
//! is reachable and has a leader (a default-consistency read needs one); every failed call
//! means it is not. An idle agent therefore costs Consul one held request per wait.

use std::time::Duration;

use futures::StreamExt;

use crate::api_metrics::{Api, ApiMetrics};
use crate::consul::ConsulClient;
use crate::telemetry::readiness::Condition;
use crate::watch::{WatchConfig, watch};

/// How long each blocking query of the probe may be held by Consul.
pub const WAIT: Duration = Duration::from_secs(300);

/// Watches `prefix` forever, updating `condition` after every call.
pub async fn run(consul: ConsulClient, prefix: String, condition: Condition, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Consul, format!("kv:{prefix}"), WAIT);
    let snapshots = watch(config, metrics, move |params| {
        let (consul, prefix, condition) = (consul.clone(), prefix.clone(), condition.clone());
        async move {
            let answer = consul.kv_list_blocking(&prefix, params).await;
            match &answer {
                Ok(_) => condition.set_ready(),
                Err(e) => condition.set_not_ready(format!("Consul: {e}")),
            }
            answer
        }
    });
    // The snapshots themselves are not needed here; the stream never ends.
    snapshots.for_each(|_| async {}).await;
}
