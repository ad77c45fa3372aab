//! Per-copy delivery state, kept by the spool beside the copy. Written durably after every
//! attempt, so that a restart resumes where the last attempt ended. A delivery whose state
//! write was lost is made again: at least once.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use doorman_spool::Spool;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub attempts: u32,
    /// Unix seconds of the next attempt; 0 for "now".
    pub next_attempt: u64,
    pub recipients: Vec<RecipientState>,
    /// The sender has had its DSN (or needs none).
    #[serde(default)]
    pub dsn_done: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecipientState {
    pub address: String,
    pub status: Status,
    /// The last reply about this recipient: the next hop's, or ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The next hop that gave it, for the DSN's Remote-MTA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn new(addresses: impl IntoIterator<Item = String>) -> DeliveryState {
        DeliveryState {
            recipients: addresses
                .into_iter()
                .map(|address| RecipientState { address, status: Status::Pending, reply: None, remote: None })
                .collect(),
            ..DeliveryState::default()
        }
    }

    pub fn pending(&self) -> impl Iterator<Item = &RecipientState> {
        self.recipients.iter().filter(|r| r.status == Status::Pending)
    }

    pub fn is_final(&self) -> bool {
        self.pending().next().is_none()
    }

    pub fn set(&mut self, address: &str, status: Status, reply: String, remote: Option<String>) {
        if let Some(r) = self.recipients.iter_mut().find(|r| r.address == address) {
            r.status = status;
            r.reply = Some(reply);
            r.remote = remote;
        }
    }

    /// Schedules the next attempt after `attempts` tries: `schedule[attempts - 1]`, the last
    /// entry repeating.
    pub fn schedule_next(&mut self, schedule: &[Duration], now: SystemTime) {
        let wait = schedule
            .get(self.attempts.saturating_sub(1) as usize)
            .or(schedule.last())
            .copied()
            .unwrap_or(Duration::from_secs(60));
        self.next_attempt = unix(now + wait);
    }
}

/// Where a copy stands in the queue: what `doorman queue list` and the queue gauges show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Due: the queue delivers it at its next look.
    Queued,
    /// Waiting for its next attempt after a 4xx.
    Deferred,
    /// Held by an administrator until released.
    Held,
}

impl QueueStatus {
    pub const ALL: [QueueStatus; 3] = [QueueStatus::Queued, QueueStatus::Deferred, QueueStatus::Held];

    /// The status of a copy with delivery state `state` (none before its first attempt), on
    /// hold or not, at unix second `now`.
    pub fn of(state: Option<&DeliveryState>, held: bool, now: u64) -> QueueStatus {
        if held {
            QueueStatus::Held
        } else if state.is_some_and(|st| st.next_attempt > now) {
            QueueStatus::Deferred
        } else {
            QueueStatus::Queued
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QueueStatus::Queued => "queued",
            QueueStatus::Deferred => "deferred",
            QueueStatus::Held => "held",
        }
    }
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The copy's state, as the spool keeps it.
pub fn load(spool: &Spool, queue_id: &str) -> io::Result<Option<DeliveryState>> {
    match spool.load_state(queue_id)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("state of {queue_id}: {e}"))),
        None => Ok(None),
    }
}

/// Written durably by the spool before anything else happens.
pub fn save(spool: &Spool, queue_id: &str, state: &DeliveryState) -> io::Result<()> {
    spool.save_state(queue_id, &serde_json::to_vec(state).map_err(io::Error::other)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_repeats_its_last_step() {
        let s = [Duration::from_secs(60), Duration::from_secs(300)];
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let mut st = DeliveryState::new(["a@b.test".to_string()]);
        for (attempts, want) in [(1, 1060), (2, 1300), (3, 1300), (9, 1300)] {
            st.attempts = attempts;
            st.schedule_next(&s, now);
            assert_eq!(st.next_attempt, want);
        }
        st.set("a@b.test", Status::Delivered, "250 ok".into(), None);
        assert!(st.is_final());
    }
}
