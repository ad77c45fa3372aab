//! Queue ids: unique within a spool, sortable by arrival, short enough to quote in a reply.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// 13 hex digits of microseconds since 1970 and 3 of a counter, e.g. `6443D0A2F1B3C012`.
/// Two ids from one process differ even within a microsecond (up to 4096 of them).
pub fn new_queue_id() -> String {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0xFFF;
    format!("{:013X}{n:03X}", micros & 0x1F_FFFF_FFFF_FFFF)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_and_sortable() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_queue_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())));
    }
}
