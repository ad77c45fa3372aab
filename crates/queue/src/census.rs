//! What the queue holds now, counted from the spool at each scrape: the copies by
//! [`QueueStatus`] and the age of the oldest one waiting. Read from disk rather than kept in
//! memory, it is right after a restart and while `doorman queue` works beside the server.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use doorman_spool::Spool;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::state::{self, QueueStatus, unix};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub queued: u64,
    pub deferred: u64,
    pub held: u64,
    /// The age of the oldest copy waiting for delivery (queued or deferred; a held copy waits
    /// for an administrator, not for the queue); none when there is none.
    pub oldest: Option<Duration>,
}

impl Census {
    /// Counts the spool's copies as of `now`. A copy finished while it is counted is left out.
    pub fn take(spool: &Spool, now: SystemTime) -> io::Result<Census> {
        let mut census = Census { held: spool.held()?.len() as u64, ..Census::default() };
        let mut oldest: Option<SystemTime> = None;
        for id in spool.queued()? {
            let written = match spool.written(&id) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // An unreadable state is the queue's to report when it gets there; the copy waits.
            let st = state::load(spool, &id).ok().flatten();
            match QueueStatus::of(st.as_ref(), false, unix(now)) {
                QueueStatus::Deferred => census.deferred += 1,
                QueueStatus::Queued | QueueStatus::Held => census.queued += 1,
            }
            oldest = Some(oldest.map_or(written, |o| o.min(written)));
        }
        census.oldest = oldest.map(|t| now.duration_since(t).unwrap_or_default());
        Ok(census)
    }

    pub fn count(&self, status: QueueStatus) -> u64 {
        match status {
            QueueStatus::Queued => self.queued,
            QueueStatus::Deferred => self.deferred,
            QueueStatus::Held => self.held,
        }
    }
}

impl EncodeLabelValue for QueueStatus {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabel {
    status: QueueStatus,
}

/// The queue gauges, as a collector the server registers.
pub struct QueueGauges(pub Arc<Spool>);

impl std::fmt::Debug for QueueGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("QueueGauges").field(&self.0.root()).finish()
    }
}

impl Collector for QueueGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let census = match Census::take(&self.0, SystemTime::now()) {
            Ok(c) => c,
            Err(e) => {
                // No number beats a wrong one: the gauges are left out of this scrape.
                tracing::warn!("queue gauges: cannot count the spool: {e}");
                return Ok(());
            }
        };
        let mut messages = encoder.encode_descriptor(
            "doorman_queue_messages",
            "Copies in the queue now, by status (queued: due; deferred: waiting for a retry; held: on hold).",
            None,
            MetricType::Gauge,
        )?;
        for status in QueueStatus::ALL {
            let n = i64::try_from(census.count(status)).unwrap_or(i64::MAX);
            ConstGauge::new(n).encode(messages.encode_family(&StatusLabel { status })?)?;
        }
        let age = ConstGauge::new(census.oldest.unwrap_or_default().as_secs_f64());
        age.encode(encoder.encode_descriptor(
            "doorman_queue_oldest_age_seconds",
            "Age of the oldest copy waiting for delivery (queued or deferred), 0 when none waits.",
            None,
            age.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::DeliveryState;

    #[test]
    fn copies_are_counted_by_status_and_the_oldest_waiting_one_gives_the_age() {
        let dir = std::env::temp_dir().join(format!("doorman-census-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spool = Spool::open(&dir).unwrap();
        assert_eq!(Census::take(&spool, SystemTime::now()).unwrap(), Census::default());

        let envelope = |id: &str| doorman_spool::Envelope {
            schema: doorman_spool::SCHEMA.into(),
            queue_id: id.into(),
            received_at: "2024-01-01T00:00:00Z".into(),
            session: "s".into(),
            client_ip: "127.0.0.1".into(),
            helo: None,
            tls: None,
            certificate_names: Vec::new(),
            mail_from: "a@b.test".into(),
            body: doorman_spool::BodyType::SevenBit,
            smtputf8: false,
            recipients: vec![doorman_spool::Recipient { address: "c@d.test".into(), in_directory: true }],
            tenant: "t".into(),
            connector: None,
            scl: None,
            disposition: doorman_spool::Disposition::Deliver,
            rules: Vec::new(),
            size: 2,
        };
        let ids: Vec<String> = (0..4).map(|_| doorman_spool::new_queue_id()).collect();
        for id in &ids {
            let staged = spool.write(&envelope(id), &[b"x\n"]).unwrap();
            spool.commit_blocking(&[staged]).unwrap();
        }
        let mut later = DeliveryState::new(["c@d.test".to_string()]);
        later.attempts = 1;
        later.next_attempt = u64::MAX;
        state::save(&spool, &ids[1], &later).unwrap();
        spool.hold(&ids[2]).unwrap();

        let now = SystemTime::now() + Duration::from_secs(30);
        let census = Census::take(&spool, now).unwrap();
        assert_eq!((census.queued, census.deferred, census.held), (2, 1, 1));
        let age = census.oldest.unwrap();
        assert!(age >= Duration::from_secs(29) && age < Duration::from_secs(60), "{age:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
