//! A node's cluster metrics, read from its [`NodeState`] at each scrape: the state keeps
//! plain atomics for its heartbeat, and this shows the same numbers to Prometheus.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::NodeState;

/// Registered once per node by whoever serves `/metrics`.
pub struct NodeMetrics(pub Arc<NodeState>);

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NodeMetrics").field(&self.0.node).finish()
    }
}

impl NodeMetrics {
    pub fn register(state: Arc<NodeState>, registry: &mut Registry) {
        registry.register_collector(Box::new(NodeMetrics(state)));
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// `name` without `_total`: the encoder appends it.
fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(v);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for NodeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let e = &mut encoder;
        gauge(
            e,
            "doorman_cluster_policy_revision",
            "The cluster policy revision in force (0 before any).",
            s.applied().unwrap_or(0),
        )?;
        gauge(e, "doorman_cluster_connected", "1 while this node reaches NATS, else 0.", u64::from(s.connected()))?;
        gauge(
            e,
            "doorman_cluster_serving_snapshot",
            "1 while the policy in force came from the snapshot on disk and not yet from NATS.",
            u64::from(s.from_snapshot()),
        )?;
        counter(
            e,
            "doorman_cluster_revisions_refused",
            "Published revisions this node refused (its checks failed); it kept the one in force.",
            s.revisions_refused.load(Relaxed),
        )?;
        counter(
            e,
            "doorman_cluster_trace_events_published",
            "Tracking events the cluster's trace stream acknowledged.",
            s.events_published.load(Relaxed),
        )?;
        counter(
            e,
            "doorman_cluster_trace_events_dropped",
            "Tracking events not published: the buffer was full, or NATS did not acknowledge them. The local tracking log has them all.",
            s.events_dropped.load(Relaxed) + s.events_failed.load(Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_state_as_prometheus_text() {
        let state = Arc::new(NodeState::new("n1"));
        state.set_applied(7, true);
        state.events_dropped.fetch_add(2, Relaxed);
        state.events_failed.fetch_add(1, Relaxed);
        let mut registry = Registry::default();
        NodeMetrics::register(state, &mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        for want in [
            "# TYPE doorman_cluster_policy_revision gauge\ndoorman_cluster_policy_revision 7\n",
            "\ndoorman_cluster_connected 0\n",
            "\ndoorman_cluster_serving_snapshot 1\n",
            "# TYPE doorman_cluster_revisions_refused_total counter\ndoorman_cluster_revisions_refused_total 0\n",
            "\ndoorman_cluster_trace_events_published_total 0\n",
            "\ndoorman_cluster_trace_events_dropped_total 3\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }
}
