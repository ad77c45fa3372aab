//! Per tenant: how many messages came through each door, and for the side door the top
//! client networks and senders, and one example row per door.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::label::{Door, Labelled};
use crate::read::Message;

#[derive(Debug, Serialize)]
pub struct TenantSummary {
    pub tenant: String,
    pub doors: BTreeMap<Door, usize>,
    /// The side door's client networks (/24, /64), most messages first.
    pub side_networks: Vec<(String, usize)>,
    pub side_senders: Vec<(String, usize)>,
    /// `file:line` and reason of the first message through each door.
    pub examples: BTreeMap<Door, String>,
}

type Counts = BTreeMap<String, usize>;

/// How many of the top networks and senders are shown.
pub const TOP: usize = 5;

/// `rows` is (where, message, label); messages without a tenant are summed under `(none)`.
pub fn summarize<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Message, &'a Labelled)>) -> Vec<TenantSummary> {
    let mut by: BTreeMap<String, (TenantSummary, Counts, Counts)> = BTreeMap::new();
    for (at, m, l) in rows {
        let name = l.tenant.clone().unwrap_or_else(|| "(none)".into());
        let (s, nets, senders) = by.entry(name.clone()).or_insert_with(|| {
            (
                TenantSummary {
                    tenant: name,
                    doors: BTreeMap::new(),
                    side_networks: Vec::new(),
                    side_senders: Vec::new(),
                    examples: BTreeMap::new(),
                },
                BTreeMap::new(),
                BTreeMap::new(),
            )
        });
        *s.doors.entry(l.door).or_default() += 1;
        s.examples.entry(l.door).or_insert_with(|| format!("{at}: {}", l.reason));
        if l.door == Door::Side {
            // The sender's own client where the trace has it, not the last hop before the tenant.
            if let Some(ip) = m.original_client_ip.or(m.client_ip) {
                *nets.entry(network(ip)).or_default() += 1;
            }
            *senders.entry(m.sender.clone()).or_default() += 1;
        }
    }
    by.into_values()
        .map(|(mut s, nets, senders)| {
            s.side_networks = top(nets);
            s.side_senders = top(senders);
            s
        })
        .collect()
}

fn top(counts: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

/// The /24 or /64 a client is in: the edge's own notion of a client network.
fn network(ip: IpAddr) -> String {
    doorman_config::Limits::default().client_network(ip).to_string()
}
