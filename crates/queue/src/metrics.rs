//! The delivering side's counters: each recipient's result by tenant and next hop, DSNs,
//! quarantined copies, and how long delivered mail took. They are prometheus-client metrics;
//! the server registers them ([`DeliveryMetrics::register`]) beside the other parts'.

use std::time::Duration;

use doorman_tracking::Event;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What one attempt did for one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Delivered,
    /// Still pending: tried again later.
    Deferred,
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Deferred => "deferred",
            Outcome::Failed => "failed",
        }
    }

    /// The tracking line it is logged as.
    pub fn event(self) -> Event {
        match self {
            Outcome::Delivered => Event::Deliver,
            Outcome::Deferred => Event::Defer,
            Outcome::Failed => Event::Fail,
        }
    }
}

/// Where an outcome came from: the relay that answered (`host:port`), the tenant's Maildirs,
/// the quarantine, or none (no next hop answered, an expiry, a rule's reject).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    Relay(String),
    Maildir,
    Quarantine,
    None,
}

impl NextHop {
    pub fn name(&self) -> &str {
        match self {
            NextHop::Relay(hop) => hop,
            NextHop::Maildir => "maildir",
            NextHop::Quarantine => "quarantine",
            NextHop::None => "none",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

impl EncodeLabelValue for NextHop {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RecipientLabels {
    tenant: String,
    next_hop: NextHop,
    result: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HopLabels {
    tenant: String,
    next_hop: NextHop,
}

/// Upper bounds of the latency histogram, in seconds: from a Maildir on the same disk (10 ms)
/// to a day in the queue, past which most mail has been retried for hours.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    4.0 * 3600.0,
    12.0 * 3600.0,
    86_400.0,
];

/// Cheap to clone: every clone counts into the same metrics.
#[derive(Clone)]
pub struct DeliveryMetrics {
    recipients: Family<RecipientLabels, Counter>,
    dsns: Family<HopLabels, Counter>,
    quarantined: Family<HopLabels, Counter>,
    latency: Histogram,
}

impl Default for DeliveryMetrics {
    fn default() -> DeliveryMetrics {
        DeliveryMetrics {
            recipients: Family::default(),
            dsns: Family::default(),
            quarantined: Family::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl DeliveryMetrics {
    pub fn recipient(&self, tenant: &str, next_hop: &NextHop, result: Outcome) {
        let labels = RecipientLabels { tenant: tenant.to_string(), next_hop: next_hop.clone(), result };
        self.recipients.get_or_create(&labels).inc();
    }

    /// A recipient was delivered `since_arrival` after its copy came into the spool.
    pub fn delivered_after(&self, since_arrival: Duration) {
        self.latency.observe(since_arrival.as_secs_f64());
    }

    pub fn dsn(&self, tenant: &str, next_hop: &NextHop) {
        self.dsns.get_or_create(&HopLabels { tenant: tenant.to_string(), next_hop: next_hop.clone() }).inc();
    }

    pub fn quarantined(&self, tenant: &str) {
        let labels = HopLabels { tenant: tenant.to_string(), next_hop: NextHop::Quarantine };
        self.quarantined.get_or_create(&labels).inc();
    }

    /// Adds the counters to `registry` (the encoder appends `_total` to counter names).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "doorman_delivery_recipients",
            "Recipients by the result of a delivery attempt, by tenant and the next hop that answered",
            self.recipients.clone(),
        );
        registry.register(
            "doorman_dsn",
            "DSNs spooled for failed recipients, by tenant and the next hop that failed them",
            self.dsns.clone(),
        );
        registry.register(
            "doorman_quarantined",
            "Copies the queue moved into their tenant's quarantine",
            self.quarantined.clone(),
        );
        registry.register(
            "doorman_delivery_latency_seconds",
            "From a copy's arrival in the spool to a recipient's delivery",
            self.latency.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_tenant_and_next_hop() {
        let m = DeliveryMetrics::default();
        let hop = NextHop::Relay("127.0.0.1:25".into());
        m.recipient("contoso", &hop, Outcome::Delivered);
        m.recipient("contoso", &hop, Outcome::Delivered);
        m.recipient("a\"b\\c", &NextHop::Maildir, Outcome::Failed);
        m.dsn("contoso", &NextHop::None);
        m.quarantined("contoso");
        m.delivered_after(Duration::from_millis(20));
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        for want in [
            "\ndoorman_delivery_recipients_total{tenant=\"contoso\",next_hop=\"127.0.0.1:25\",result=\"delivered\"} 2\n",
            "\ndoorman_delivery_recipients_total{tenant=\"a\\\"b\\\\c\",next_hop=\"maildir\",result=\"failed\"} 1\n",
            "\ndoorman_dsn_total{tenant=\"contoso\",next_hop=\"none\"} 1\n",
            "\ndoorman_quarantined_total{tenant=\"contoso\",next_hop=\"quarantine\"} 1\n",
            "\ndoorman_delivery_latency_seconds_bucket{le=\"0.01\"} 0\n",
            "\ndoorman_delivery_latency_seconds_bucket{le=\"0.05\"} 1\n",
            "\ndoorman_delivery_latency_seconds_bucket{le=\"86400\"} 1\n",
            "\ndoorman_delivery_latency_seconds_count 1\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }
}
