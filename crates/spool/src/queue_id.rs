//! Queue ids: unique within a spool, sortable by arrival, short enough to quote in a reply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last id handed out, as a number: microseconds since 1970, shifted left 12 bits, plus a
/// sequence within the microsecond.
static LAST: AtomicU64 = AtomicU64::new(0);

/// 16 hex digits, e.g. `6443D0A2F1B3C012`: the microseconds since 1970 and a sequence within
/// the microsecond. Each id is greater than the one before it in this process, even when the
/// clock stands still or steps back, so ids sort by arrival.
pub fn new_queue_id() -> String {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    let now = (micros & 0x000F_FFFF_FFFF_FFFF) << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:016X}"),
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_and_in_arrival_order() {
        // Far more ids than fit in one microsecond's sequence of an older scheme (4096).
        let ids: Vec<String> = (0..20_000).map(|_| super::new_queue_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "each id sorts after the one before it");
        assert!(ids.iter().all(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())));
    }

    #[test]
    fn threads_get_distinct_ids() {
        let all: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> =
                (0..4).map(|_| s.spawn(|| (0..5000).map(|_| super::new_queue_id()).collect::<Vec<_>>())).collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
    }
}
