//! Every class of a tenant's space, run through the engine's RCPT and DATA stages: the table
//! the report, the findings, `doorman diff` and the predictions are all read from.
//!
//! RCPT is decided per recipient, so it is evaluated for every (IP, TLS, sender, DNSBL,
//! recipient) class. DATA is decided per tenant copy, and a copy holds every recipient the
//! tenant accepted in the transaction: rules on `recipient_domain_is` hold when any of them
//! matches. So DATA is evaluated for every combination of recipient-domain regions that the
//! accepted recipients of a class can make, for every `From:` class, and for every
//! realisable assignment of the content conditions the copy can reach.

use std::collections::HashMap;

use doorman_policy::{
    AcceptedRecipient, ConnectorMatch, Detail, FilterFacts, MessageHeaders, RcptContext, Reply, Session,
};

use crate::doors::{CopyOutcome, Gateway};
use crate::space::content::{Assignment, Fields, assignments};
use crate::space::{HeaderAtom, MAX_CONTENT_ATOMS, Space, TooLarge};

/// RCPT for one class.
#[derive(Clone, Debug)]
pub struct RcptCell {
    pub reply: Reply,
    pub connector: Option<ConnectorMatch>,
    pub accepted: Option<AcceptedRecipient>,
}

/// The recipient classes one copy can hold together, and the rule-domain bits they make.
#[derive(Clone, Debug)]
pub struct Combo {
    pub vector: Box<[bool]>,
    /// Recipient classes that make `vector` (the fewest found).
    pub members: Vec<usize>,
}

/// DATA for one copy class: the content atoms its rules can reach, and the outcome of each
/// realisable assignment of them.
#[derive(Clone, Debug)]
pub struct DataCell {
    pub atoms: Vec<usize>,
    pub outcomes: Vec<ContentOutcome>,
}

/// The outcome of a copy class for one assignment of its content atoms.
#[derive(Clone, Debug)]
pub struct ContentOutcome {
    pub content: Assignment,
    pub outcome: CopyOutcome,
}

impl DataCell {
    /// The outcome for a session whose headers give the content atoms `truth` (all atoms).
    pub fn outcome(&self, truth: &[bool]) -> Option<&CopyOutcome> {
        let mine: Vec<bool> = self.atoms.iter().map(|&a| truth[a]).collect();
        self.outcomes.iter().find(|o| o.content.truth == mine).map(|o| &o.outcome)
    }

    /// Whether the outcome depends on message content.
    pub fn varies(&self) -> bool {
        self.outcomes.windows(2).any(|w| w[0].outcome != w[1].outcome)
    }
}

/// The key of a copy class: IP, TLS, sender, From class, and the recipients' rule-domain bits.
pub type DataKey = (usize, usize, usize, usize, Box<[bool]>);

pub struct Table<'p> {
    pub space: Space<'p>,
    /// Which of the space's views (configs) this table evaluates.
    pub view: usize,
    pub gateway: Gateway,
    rcpt: Vec<RcptCell>,
    data: HashMap<DataKey, DataCell>,
    /// RCPT and DATA evaluations made.
    pub evaluations: usize,
}

impl<'p> Table<'p> {
    pub fn build(space: Space<'p>, view: usize) -> Result<Table<'p>, TooLarge> {
        let v = space.views[view];
        let policy = v.policy;
        let gateway = Gateway::of(policy.tenant(v.tenant).config);
        let (ni, nt, ns, nd, nr, nf) = (
            space.ips.intervals.len(),
            space.tls.len(),
            space.senders.len(),
            space.dnsbl.len(),
            space.recipients.len(),
            space.froms.len(),
        );
        let mut rcpt = Vec::with_capacity(ni * nt * ns * nd * nr);
        let mut data = HashMap::new();
        let mut evaluations = 0;
        let mut blocks = Blocks::default();
        for ip in 0..ni {
            for tls in 0..nt {
                let sessions: Vec<Session> = (0..nd).map(|d| space.session(ip, tls, d)).collect();
                for s in 0..ns {
                    let sender = &space.senders.classes[s].path;
                    // Any client may give SMTPUTF8; without it a non-ASCII recipient is refused
                    // before any tenant's check, which predictions take from the engine.
                    let cx = RcptContext { sender, smtputf8: true, accepted: 0 };
                    let first = rcpt.len();
                    for session in &sessions {
                        for r in &space.recipients.classes {
                            let d = policy.rcpt(session, &cx, &r.address, Detail::Brief);
                            rcpt.push(RcptCell { reply: d.reply, connector: d.connector, accepted: d.accepted });
                        }
                    }
                    evaluations += nd * nr;
                    // A DNSBL answer can only refuse: what is accepted when the client is
                    // listed nowhere holds every copy any DNSBL answer lets through.
                    let clean = &rcpt[first..first + nr];
                    let mine = combinations(&space, clean, policy.config().server.limits.max_recipients as usize, None);
                    for combo in &mine {
                        let members: Vec<AcceptedRecipient> =
                            combo.members.iter().filter_map(|&r| clean[r].accepted.clone()).collect();
                        for f in 0..nf {
                            let Some((_, base)) = blocks.get(&space, f, &[], &Assignment::default()) else { continue };
                            let mut atoms: Vec<usize> = policy
                                .content_in_play(&sessions[0], sender, &members, &base)
                                .into_iter()
                                .map(|h| {
                                    let a = HeaderAtom::of(h);
                                    space
                                        .atoms
                                        .iter()
                                        .position(|x| *x == a)
                                        .expect("every condition is an atom of the space")
                                })
                                .collect();
                            atoms.sort_unstable();
                            atoms.dedup();
                            if atoms.len() > MAX_CONTENT_ATOMS {
                                return Err(TooLarge(format!(
                                    "{} header_contains conditions can change one class's outcome; the audit enumerates up to {MAX_CONTENT_ATOMS}",
                                    atoms.len()
                                )));
                            }
                            let refs: Vec<&HeaderAtom> = atoms.iter().map(|&a| &space.atoms[a]).collect();
                            let mut outcomes = Vec::new();
                            for content in assignments(&refs) {
                                let Some((fields, headers)) = blocks.get(&space, f, &atoms, &content) else { continue };
                                let d = policy.data(
                                    &sessions[0],
                                    sender,
                                    &members,
                                    &headers,
                                    headers.block_size(),
                                    &FilterFacts::none(),
                                    Detail::Brief,
                                );
                                evaluations += 1;
                                let outcome = match d.copies.first() {
                                    Some(copy) => CopyOutcome::of(&gateway, sessions[0].client_ip, copy),
                                    // Even the smallest message is over the size limit.
                                    None => CopyOutcome::refused(policy.tenant(v.tenant).name(), d.reply.as_ref()),
                                };
                                outcomes.push(ContentOutcome {
                                    content: Assignment { truth: content.truth, fields },
                                    outcome,
                                });
                            }
                            data.insert((ip, tls, s, f, combo.vector.clone()), DataCell { atoms, outcomes });
                        }
                    }
                }
            }
        }
        Ok(Table { space, view, gateway, rcpt, data, evaluations })
    }

    fn index(&self, ip: usize, tls: usize, sender: usize, dnsbl: usize, recipient: usize) -> usize {
        let s = &self.space;
        (((ip * s.tls.len() + tls) * s.senders.len() + sender) * s.dnsbl.len() + dnsbl) * s.recipients.len() + recipient
    }

    pub fn rcpt(&self, ip: usize, tls: usize, sender: usize, dnsbl: usize, recipient: usize) -> &RcptCell {
        &self.rcpt[self.index(ip, tls, sender, dnsbl, recipient)]
    }

    /// The combinations a copy holding `recipient` can make, in a transaction the recipient
    /// limit allows.
    pub fn combos_with(&self, ip: usize, tls: usize, sender: usize, recipient: usize) -> Vec<Combo> {
        let first = self.index(ip, tls, sender, 0, 0);
        let clean = &self.rcpt[first..first + self.space.recipients.len()];
        let max = self.space.views[self.view].policy.config().server.limits.max_recipients as usize;
        combinations(&self.space, clean, max, Some(recipient))
    }

    pub fn data(&self, ip: usize, tls: usize, sender: usize, from: usize, vector: &[bool]) -> Option<&DataCell> {
        self.data.get(&(ip, tls, sender, from, vector.into()))
    }

    /// Every copy class evaluated.
    pub fn data_cells(&self) -> impl Iterator<Item = &DataCell> {
        self.data.values()
    }
}

/// Header blocks, made once per From class and content assignment (they do not depend on
/// the client or the sender).
#[derive(Default)]
struct Blocks {
    made: HashMap<(usize, Vec<usize>, Vec<bool>), Option<Block>>,
}

/// A header block's fields, and the headers the engine parses from them.
type Block = (Fields, MessageHeaders);

impl Blocks {
    fn get(
        &mut self,
        space: &Space<'_>,
        from: usize,
        atoms: &[usize],
        content: &Assignment,
    ) -> Option<(Fields, MessageHeaders)> {
        self.made
            .entry((from, atoms.to_vec(), content.truth.clone()))
            .or_insert_with(|| space.header_block(from, atoms, content))
            .clone()
    }
}

/// Every rule-domain vector that a copy made of accepted recipient classes can carry: the
/// bitwise OR of any set of them that one transaction can hold (at most `max` recipients,
/// and always `with` when given), each with the fewest classes that make it.
pub fn combinations(space: &Space<'_>, clean: &[RcptCell], max: usize, with: Option<usize>) -> Vec<Combo> {
    let bits = |r: usize| space.recipients.classes[r].rule_domains.clone();
    let mut out: Vec<Combo> = match with {
        Some(r) if max > 0 && clean[r].accepted.is_some() => vec![Combo { vector: bits(r), members: vec![r] }],
        Some(_) => return Vec::new(),
        None => Vec::new(),
    };
    for (r, cell) in clean.iter().enumerate() {
        if cell.accepted.is_none() || max == 0 || Some(r) == with {
            continue;
        }
        let mut grown: Vec<Combo> =
            if with.is_none() { vec![Combo { vector: bits(r), members: vec![r] }] } else { Vec::new() };
        for c in out.iter().filter(|c| c.members.len() < max) {
            let vector: Box<[bool]> = c.vector.iter().zip(bits(r).iter()).map(|(a, b)| *a || *b).collect();
            let mut members = c.members.clone();
            members.push(r);
            grown.push(Combo { vector, members });
        }
        for g in grown {
            match out.iter_mut().find(|c| c.vector == g.vector) {
                Some(c) if c.members.len() > g.members.len() => *c = g,
                Some(_) => {}
                None => out.push(g),
            }
        }
    }
    out
}
