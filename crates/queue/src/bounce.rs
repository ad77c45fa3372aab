//! Spooling a DSN for a copy's failed recipients, within the configured rate.

use std::time::{Duration, Instant, SystemTime};

use doorman_config::Config;
use doorman_spool::{Disposition, Envelope, OpenCopy, Recipient, SCHEMA, new_queue_id};
use doorman_tracking::{Event, Record, time};

use crate::dsn::{self, Failure, Report};
use crate::manager::QueueManager;
use crate::metrics::NextHop;
use crate::state::{DeliveryState, Status};

impl QueueManager {
    /// Spools a DSN for the failed recipients, unless none is owed. `Err` gives how long to
    /// wait when the DSN rate limit is reached.
    pub(crate) async fn send_dsn(
        &self,
        config: &Config,
        file: &OpenCopy,
        id: &str,
        st: &DeliveryState,
    ) -> Result<(), u64> {
        let env = &file.envelope;
        let failed: Vec<_> = st.recipients.iter().filter(|r| r.status == Status::Failed).collect();
        if failed.is_empty() || env.mail_from.is_empty() {
            return Ok(());
        }
        {
            let mut w = self.dsn_window.lock().unwrap_or_else(|e| e.into_inner());
            if w.0.elapsed() >= Duration::from_secs(60) {
                *w = (Instant::now(), 0);
            }
            if w.1 >= config.server.queue.max_dsns_per_minute {
                return Err(60 - w.0.elapsed().as_secs().min(59));
            }
            w.1 += 1;
        }
        let failures: Vec<Failure> = failed
            .iter()
            .map(|r| Failure {
                recipient: &r.address,
                reply: r.reply.as_deref().unwrap_or("550 5.0.0 failed"),
                remote: r.remote.as_deref(),
            })
            .collect();
        let now = SystemTime::now();
        // The DSN returns the original's headers only.
        let Ok(original) = file.head() else { return Err(60) };
        let message = dsn::build(&Report {
            reporting_mta: &config.server.hostname,
            queue_id: id,
            sender: &env.mail_from,
            date: &time::rfc5322(now),
            failures: &failures,
            original: &original,
        });
        let dsn_id = new_queue_id();
        let envelope = Envelope {
            schema: SCHEMA.into(),
            queue_id: dsn_id.clone(),
            received_at: time::rfc3339(now),
            session: format!("dsn-{id}"),
            client_ip: "127.0.0.1".into(),
            helo: None,
            tls: None,
            certificate_names: Vec::new(),
            mail_from: String::new(),
            body: doorman_spool::BodyType::EightBitMime,
            smtputf8: false,
            recipients: vec![Recipient { address: env.mail_from.clone(), in_directory: true }],
            tenant: env.tenant.clone(),
            connector: None,
            scl: None,
            disposition: Disposition::Deliver,
            rules: Vec::new(),
            size: message.len() as u64,
        };
        let spool = self.spool.clone();
        let written = tokio::task::spawn_blocking(move || {
            let staged = spool.write(&envelope, &[&message])?;
            spool.commit_blocking(&[staged])
        })
        .await;
        let committed = matches!(written, Ok(Ok(_)));
        match committed {
            true => {}
            false => {
                tracing::error!("queue {id}: cannot spool its DSN; retrying in a minute");
                return Err(60);
            }
        }
        let hop = failed.iter().find_map(|r| r.remote.clone()).map_or(NextHop::None, NextHop::Relay);
        self.metrics.dsn(&env.tenant, &hop);
        let mut r = Record::now(Event::Dsn);
        r.queue_id = Some(id.to_string());
        r.mail_from = Some(String::new());
        r.rcpt = Some(env.mail_from.clone());
        r.tenant = Some(env.tenant.clone());
        r.reply = Some(format!("DSN {dsn_id} for {} failed recipient(s)", failures.len()));
        self.tracking.log(r);
        self.wake();
        Ok(())
    }
}
