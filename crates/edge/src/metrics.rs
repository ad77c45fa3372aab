//! The receiving side's counters. They are prometheus-client metrics (atomics behind an
//! `Arc`), so a session pays a few nanoseconds per reply; whoever serves `/metrics` registers
//! them ([`Metrics::register`]) beside the other parts' metrics.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What became of a tenant copy at the edge; its label value is the tracking event's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Receive,
    Reject,
    Drop,
    Quarantine,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Receive => "receive",
            Outcome::Reject => "reject",
            Outcome::Drop => "drop",
            Outcome::Quarantine => "quarantine",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReplyLabels {
    code: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MessageLabels {
    tenant: String,
    outcome: Outcome,
}

/// Upper bounds of the spool sync histogram, in seconds: a sync takes from a tenth of a
/// millisecond (a fast SSD) to a second (a busy disk).
const FSYNC_BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

pub struct Metrics {
    pub connections_accepted: Counter,
    pub connections_open: Gauge,
    pub connections_refused: Counter,
    replies: Family<ReplyLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    spool_fsync: Histogram,
    pub reloads_ok: Counter,
    pub reloads_failed: Counter,
    pub config_generation: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            connections_accepted: Counter::default(),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            replies: Family::default(),
            messages: Family::default(),
            spool_fsync: Histogram::new(FSYNC_BUCKETS),
            reloads_ok: Counter::default(),
            reloads_failed: Counter::default(),
            config_generation: Gauge::default(),
        }
    }
}

impl Metrics {
    pub fn reply(&self, code: u16) {
        self.replies.get_or_create(&ReplyLabels { code }).inc();
    }

    pub fn message(&self, tenant: &str, outcome: Outcome) {
        self.messages.get_or_create(&MessageLabels { tenant: tenant.to_string(), outcome }).inc();
    }

    /// Time to make a spooled copy durable.
    pub fn spool_fsync(&self, d: Duration) {
        self.spool_fsync.observe(d.as_secs_f64());
    }

    /// The config generation in force.
    pub fn generation(&self) -> u64 {
        u64::try_from(self.config_generation.get()).unwrap_or(0)
    }

    pub fn set_generation(&self, generation: u64) {
        self.config_generation.set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    /// Adds these metrics to `registry`, under the names the endpoint has always shown (the
    /// encoder appends `_total` to counters).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "doorman_connections_accepted",
            "TCP connections accepted",
            self.connections_accepted.clone(),
        );
        registry.register(
            "doorman_connections_refused",
            "Connections refused at connect (limits, untrusted or malformed PROXY header)",
            self.connections_refused.clone(),
        );
        registry.register("doorman_connections_open", "Sessions open now", self.connections_open.clone());
        registry.register("doorman_replies", "SMTP replies sent, by code", self.replies.clone());
        registry.register("doorman_messages", "Tenant copies by outcome", self.messages.clone());
        registry.register(
            "doorman_spool_fsync_seconds",
            "Time to make a spooled copy durable (its own fsync, if any, plus the group sync it waited for)",
            self.spool_fsync.clone(),
        );
        registry.register("doorman_config_reloads", "Reloads that took effect", self.reloads_ok.clone());
        registry.register(
            "doorman_config_reload_failures",
            "Reloads refused because the new config has errors",
            self.reloads_failed.clone(),
        );
        registry.register(
            "doorman_config_generation",
            "The config generation in force (1 at start)",
            self.config_generation.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names and samples the endpoint showed before it used prometheus-client.
    #[test]
    fn names_stay_as_they_were() {
        let m = Metrics::default();
        m.connections_accepted.inc();
        m.connections_open.inc();
        m.reply(250);
        m.message("fab\"rikam", Outcome::Receive);
        m.spool_fsync(Duration::from_micros(300));
        m.set_generation(3);
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        for want in [
            "# TYPE doorman_connections_accepted_total counter\ndoorman_connections_accepted_total 1\n",
            "\ndoorman_connections_refused_total 0\n",
            "\ndoorman_connections_open 1\n",
            "\ndoorman_replies_total{code=\"250\"} 1\n",
            "\ndoorman_messages_total{tenant=\"fab\\\"rikam\",outcome=\"receive\"} 1\n",
            "\ndoorman_spool_fsync_seconds_bucket{le=\"0.00025\"} 0\n",
            "\ndoorman_spool_fsync_seconds_bucket{le=\"0.0005\"} 1\n",
            "\ndoorman_spool_fsync_seconds_count 1\n",
            "# HELP doorman_config_generation The config generation in force (1 at start).\n",
            "\ndoorman_config_generation 3\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }
}
