//! The audit's claims, tested as a proof: for random configs over the whole documented schema
//! and random sessions aimed at their boundaries, the class that holds a session predicts
//! exactly what the engine decides for it (every RCPT reply and enhanced code, tenant and
//! connector; every copy's connector, SCL, disposition, rules and door, and whether it is
//! authenticated and spam-filtered), and every finding
//! the report makes holds for every session.
//!
//! CI runs a fixed seed and a bounded number of configs. `DOORMAN_PROOF_CASES=100000` runs a
//! soak (best with `--release`); `DOORMAN_PROOF_SEED` picks another seed. A failure prints
//! the shrunk config as TOML and each session as a `doorman explain` command.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use doorman_audit::predict::{Classes, Prediction};
use doorman_audit::{Audit, DoorSide, TenantAudit, Verdict};
use doorman_policy::{Detail, Evaluation, Policy, Transaction};
use doorman_testgen::{Case, case};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

static CONFIGS: AtomicUsize = AtomicUsize::new(0);
static SESSIONS: AtomicUsize = AtomicUsize::new(0);
static UNAUDITED: AtomicUsize = AtomicUsize::new(0);
/// Copies compared, by disposition: the generator must reach every one.
static DISPOSITIONS: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());

/// The engine got as far as RCPT: earlier stages know no tenant and are no class's business.
fn reaches_rcpt(e: &Evaluation) -> bool {
    e.mail.as_ref().is_some_and(|m| m.sender.is_some())
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let toml = c.config.toml();
    let loaded = doorman_config::load_str("case.toml", &toml, Path::new("."))
        .map_err(|d| TestCaseError::fail(format!("the generated config does not load: {d}")))?;
    let policy = Policy::new(loaded.config);
    let audit = doorman_audit::audit(&policy).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let classes = Classes::of(&policy);
    CONFIGS.fetch_add(1, Ordering::Relaxed);
    let mut seen: Vec<(Transaction, Prediction)> = Vec::new();
    for s in &c.sessions {
        let mut tx = s.transaction();
        // A trusted proxy's own address reaches RCPT only through a proxy: the edge wants
        // its PROXY header.
        if policy.is_trusted_proxy(tx.session.client_ip) {
            tx.proxy_peer = Some(tx.session.client_ip);
        }
        let e = policy.evaluate(&tx, Detail::Brief);
        if !reaches_rcpt(&e) {
            continue;
        }
        let engine = Prediction::observed(&policy, &e);
        match classes.predict(&tx) {
            Ok(p) => {
                if p != engine {
                    return Err(TestCaseError::fail(format!(
                        "the audit's classes disagree with the engine for\n  {s:?}\naudit:  {p:?}\nengine: {engine:?}"
                    )));
                }
            }
            Err(u) if u.0.contains("is not audited") => {
                UNAUDITED.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(u) => return Err(TestCaseError::fail(format!("no class holds {s:?}: {}", u.0))),
        }
        SESSIONS.fetch_add(1, Ordering::Relaxed);
        let mut counts = DISPOSITIONS.lock().unwrap();
        for copy in &engine.copies {
            *counts.entry(copy.disposition.name()).or_default() += 1;
            *counts.entry(if copy.authenticated { "authenticated" } else { "not authenticated" }).or_default() += 1;
            *counts.entry(if copy.spam_filtered { "spam filtered" } else { "not spam filtered" }).or_default() += 1;
        }
        drop(counts);
        seen.push((tx, engine));
    }
    findings_hold(&policy, &audit, &seen)
}

/// Every finding holds for every session seen, and every example a finding or side door
/// gives is what it says when the engine runs it.
fn findings_hold(policy: &Policy, audit: &Audit, seen: &[(Transaction, Prediction)]) -> Result<(), TestCaseError> {
    let by_name: BTreeMap<&str, &TenantAudit> = audit.tenants.iter().map(|t| (t.tenant.as_str(), t)).collect();
    let fail = |what: String| Err(TestCaseError::fail(what));
    for (tx, p) in seen {
        for (r, rcpt) in p.recipients.iter().enumerate() {
            let accepted = rcpt.reply.code < 300;
            if accepted && rcpt.tenant.is_none() {
                return fail(format!("{tx:?} relays recipient {r}"));
            }
            let Some(t) = rcpt.tenant.as_deref().and_then(|n| by_name.get(n)) else { continue };
            if let Some(c) = &rcpt.connector
                && t.findings.iter().any(|f| f.code == "connector_shadowed" && f.subject.as_deref() == Some(c))
            {
                return fail(format!("connector {c:?} is called shadowed, yet {tx:?} is attributed to it"));
            }
            if rcpt.reply.to_string() == "550 5.7.513" {
                for f in t.findings.iter().filter(|f| f.code == "block_entry_dead") {
                    let entry = doorman_config::net::IpEntry::parse(f.subject.as_deref().unwrap_or_default()).unwrap();
                    if entry.contains(tx.session.client_ip) {
                        return fail(format!("block entry {entry} is called dead, yet it blocks {tx:?}"));
                    }
                }
            }
        }
        for copy in &p.copies {
            let t = by_name[copy.tenant.as_str()];
            for rule in &copy.rules {
                if t.findings.iter().any(|f| f.code == "rule_never_matches" && f.subject.as_deref() == Some(rule)) {
                    return fail(format!("rule {rule:?} is said never to match, yet {tx:?} triggers it"));
                }
            }
            if copy.door == Some(DoorSide::Side) {
                // A side door a session takes is reported: as a door, as a finding, and as
                // skipping spam filtering too when its SCL is -1.
                let audited = t.verdict != Verdict::NotAudited;
                if audited && (t.side_doors.is_empty() || !t.findings.iter().any(|f| f.code == "side_door")) {
                    return fail(format!("tenant {} reports no side door, yet {tx:?} comes in by one", t.tenant));
                }
                if audited
                    && copy.scl == Some(-1)
                    && !t.findings.iter().any(|f| f.code == "side_door_skips_spam_filtering")
                {
                    return fail(format!("{tx:?} comes in by a side door with SCL -1, and no finding says so"));
                }
                if t.verdict == Verdict::Locked {
                    return fail(format!(
                        "tenant {} is LOCKED, yet {tx:?} comes in by a side door: {copy:?}",
                        t.tenant
                    ));
                }
                if t.findings.iter().any(|f| f.code == "ipv6_open") && tx.session.client_ip.is_ipv4() {
                    return fail(format!("ipv6_open says IPv4 is closed, yet {tx:?} comes in by a side door"));
                }
            }
        }
    }
    for t in &audit.tenants {
        // Only a rule on message content can make an outcome depend on it.
        let rules = &policy.tenant_by_name(&t.tenant).expect("every tenant is audited").config.transport_rules;
        let on_content = |name: &String| {
            rules.iter().any(|r| {
                r.name == *name && !(r.conditions.header_contains.is_empty() && r.exceptions.header_contains.is_empty())
            })
        };
        let content = t
            .front_doors
            .iter()
            .chain(&t.side_doors)
            .flat_map(|d| &d.content)
            .chain(t.refused.iter().flat_map(|r| &r.content))
            .chain(t.deleted.iter().flat_map(|d| &d.content));
        let mut content = content.peekable();
        if content.peek().is_some() && !t.findings.iter().any(|f| f.code == "depends_on_content") {
            return fail(format!("tenant {}: outcomes depend on content, and no finding says so", t.tenant));
        }
        for name in content {
            if !on_content(name) {
                return fail(format!(
                    "tenant {}: rule {name:?} is said to read message content, and does not",
                    t.tenant
                ));
            }
        }
        if t.verdict == Verdict::SideDoorOpen && t.side_doors.is_empty() {
            return fail(format!("tenant {} is SIDE DOOR OPEN without a side door", t.tenant));
        }
        for d in &t.side_doors {
            let Some(example) = &d.session else { return fail(format!("side door without an example: {d:?}")) };
            let e = policy.evaluate(&example.transaction(), Detail::Brief);
            let p = Prediction::observed(policy, &e);
            let copy = p.copies.iter().find(|c| c.tenant == t.tenant);
            if !copy.is_some_and(|c| c.door == Some(DoorSide::Side) && c.scl == d.scl && c.disposition == d.disposition)
            {
                return fail(format!("the example of side door {d:?} gives {p:?}"));
            }
            // What the door says of filtering is what its example gets; SCL -1 skips both.
            let f = &d.filtering;
            if !copy.is_some_and(|c| c.authenticated == f.authenticated && c.spam_filtered == f.spam_filtered) {
                return fail(format!("side door {d:?} misstates its filtering: its example gives {p:?}"));
            }
            if d.scl == Some(-1) && (f.authenticated || f.spam_filtered || !d.critical) {
                return fail(format!("side door {d:?} has SCL -1, yet is filtered or not critical"));
            }
        }
        for f in &t.findings {
            let Some(example) = &f.example else { continue };
            let e = policy.evaluate(&example.transaction(), Detail::Brief);
            let p = Prediction::observed(policy, &e);
            let copy = p.copies.iter().find(|c| c.tenant == t.tenant);
            let holds = match f.code.as_str() {
                "side_door" => copy.is_some_and(|c| c.door == Some(DoorSide::Side)),
                "side_door_skips_spam_filtering" => {
                    copy.is_some_and(|c| c.door == Some(DoorSide::Side) && c.scl == Some(-1))
                }
                "direct_send_open" => copy.is_some_and(|c| {
                    let own =
                        e.mail.as_ref().and_then(|m| m.sender.as_ref()).and_then(|s| s.domain()).is_some_and(|d| {
                            policy.tenant_by_name(&t.tenant).is_some_and(|v| policy.is_own_domain(v.id, d))
                        });
                    let authenticated = e
                        .recipients
                        .iter()
                        .any(|r| r.decision.connector.as_ref().is_some_and(|m| m.by.is_authenticated()));
                    own && c.door.is_some() && !authenticated
                }),
                "open_relay" => p.recipients.iter().any(|r| r.reply.code < 300 && r.tenant.is_none()),
                "scl_bypass_by_sender_domain" => copy.is_some_and(|c| {
                    c.scl == Some(-1) && c.door.is_some() && c.rules.iter().any(|r| Some(r) == f.subject.as_ref())
                }),
                other => return fail(format!("finding {other} carries an example this test does not check")),
            };
            if !holds {
                return fail(format!("finding {} ({}) does not hold for its example: {p:?}", f.code, f.message));
            }
        }
    }
    Ok(())
}

#[test]
fn the_audit_predicts_the_engine_for_every_session() {
    let cases = env("DOORMAN_PROOF_CASES", 400) as u32;
    let seed = env("DOORMAN_PROOF_SEED", 0x00d0_0a11);
    let config = Config {
        cases,
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(1..30), |c| check(&c));
    let (configs, sessions, unaudited) =
        (CONFIGS.load(Ordering::Relaxed), SESSIONS.load(Ordering::Relaxed), UNAUDITED.load(Ordering::Relaxed));
    eprintln!(
        "proof: {configs} configs, {sessions} sessions compared with the engine (seed {seed:#x}); {unaudited} sessions of tenants too large to audit skipped"
    );
    let dispositions = DISPOSITIONS.lock().unwrap().clone();
    eprintln!("proof: copies by disposition {dispositions:?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(sessions > cases as usize, "too few sessions reached RCPT: {sessions}");
    // CI's budget and more reach every disposition; a short run need not.
    if cases >= 400 {
        for d in [
            "deliver",
            "junk",
            "redirect",
            "quarantine",
            "delete",
            "reject",
            "authenticated",
            "not authenticated",
            "spam filtered",
            "not spam filtered",
        ] {
            assert!(dispositions.get(d).is_some_and(|n| *n > 0), "no copy was ever {d}: {dispositions:?}");
        }
    }
}
