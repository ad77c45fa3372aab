//! Several `doorman serve` nodes sharing one policy and one message trace through a real
//! `nats-server -js` on loopback: publish, follow, outages, refusals, status and trace.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Edge, Nats, test_dir, wait_for};

/// The policy: tenant `t` with the given recipients.
fn policy(recipients: &[&str], maildir: &Path) -> String {
    let list: Vec<String> = recipients.iter().map(|r| format!("{r:?}")).collect();
    format!(
        r#"[[tenants]]
name = "t"
mx = ["self"]
recipients = [{}]
routing = {{ type = "maildir", path = "{}" }}

[[tenants.accepted_domains]]
domain = "t.test"
"#,
        list.join(", "),
        maildir.display()
    )
}

/// A node's own file: the [server] part comes from the edge tests' template; this is the rest.
fn cluster_section(nats: &Nats, node: &str, extra: &str) -> String {
    format!("[cluster]\nurl = {:?}\nnode_name = {node:?}\nheartbeat = \"1s\"\n{extra}\n", nats.url())
}

fn start_nodes(test: &str, nats: &Nats, names: &[&str], extra: &str) -> Vec<Edge> {
    names.iter().map(|n| Edge::start(&format!("{test}-{n}"), "", &cluster_section(nats, n, extra))).collect()
}

/// Writes `text` as a policy file in `dir` and publishes it: (exit code, stdout, stderr).
fn publish(dir: &Path, nats: &Nats, name: &str, text: &str, flags: &[&str]) -> (i32, String, String) {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    let url = nats.url();
    let mut args = vec!["config", "publish", &path, "--cluster", &url];
    args.extend_from_slice(flags);
    doorman(&args)
}

fn doorman(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorman")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The RCPT reply a node gives `rcpt` now, in a session of its own.
fn rcpt(node: &Edge, rcpt: &str) -> String {
    let mut c = node.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c.cmd("MAIL FROM:<someone@example.net>");
    let reply = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    c.cmd("QUIT");
    reply
}

/// Waits (up to 10 s) until the node's answer for `rcpt` starts with `code`; gives how long.
fn until_answer(node: &Edge, address: &str, code: &str, since: Instant) -> Duration {
    wait_for(Duration::from_secs(10), || rcpt(node, address).starts_with(code).then(|| since.elapsed()))
        .unwrap_or_else(|| panic!("{address} never got {code}: {}\n{}", rcpt(node, address), node.log()))
}

/// Sends one message to `rcpt`; it must be queued.
fn send(node: &Edge, rcpt: &str) {
    let mut c = node.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c.cmd("MAIL FROM:<someone@example.net>");
    assert!(c.cmd(&format!("RCPT TO:<{rcpt}>")).starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let queued = c.cmd("Subject: hello\r\nMessage-ID: <m@example.net>\r\n\r\nhi\r\n.");
    assert!(queued.starts_with("250 2.0.0 Ok: queued"), "{queued}");
    c.cmd("QUIT");
}

fn status(nats: &Nats) -> (i32, Value) {
    let (code, out, err) = doorman(&["cluster", "status", "--cluster", &nats.url(), "--json"]);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")))
}

/// Waits (up to `secs`) until the node's metric `name` is `value`; else panics with `why`
/// and the node's log.
fn wait_metric(node: &Edge, name: &str, value: f64, secs: u64, why: &str) {
    wait_for(Duration::from_secs(secs), || (metric(node, name) == Some(value)).then_some(()))
        .unwrap_or_else(|| panic!("{why} ({name} is {:?}):\n{}", metric(node, name), node.log()));
}

fn metric(node: &Edge, name: &str) -> Option<f64> {
    let text = node.metrics();
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

const ALICE: &str = "alice@t.test";
const BOB: &str = "bob@t.test";
const CAROL: &str = "carol@t.test";

/// One publish changes the answer on all three nodes. With NATS killed they answer on with
/// the last policy; a node started meanwhile serves its snapshot; after NATS is back, the
/// next publish reaches all three; and the cluster's trace holds all three nodes' events.
#[test]
fn three_nodes_follow_one_policy_through_a_nats_outage() {
    let dir = test_dir("cluster-three");
    let mail = dir.join("mail");
    let mut nats = Nats::start(&dir);
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE], &mail), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published as revision 1"), "{out}");
    let mut nodes = start_nodes("cluster-three", &nats, &["n1", "n2", "n3"], "");
    for node in &nodes {
        assert!(rcpt(node, ALICE).starts_with("250 2.1.5"), "{}", node.log());
        assert!(rcpt(node, BOB).starts_with("550 5.4.1"));
        send(node, ALICE);
    }

    let published = Instant::now();
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE, BOB], &mail), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published as revision 2"), "{out}");
    for (node, name) in nodes.iter().zip(["n1", "n2", "n3"]) {
        let took = until_answer(node, BOB, "250", published);
        eprintln!("{name}: publish to new RCPT answer in {took:?}");
        wait_metric(node, "doorman_cluster_policy_revision", 2.0, 5, "revision 2 never counted as in force");
        assert!(node.log().contains("policy revision 2 in force"), "{}", node.log());
        assert_eq!(metric(node, "doorman_cluster_connected"), Some(1.0));
    }
    // Heartbeats come every second: the status shows the change within one.
    let (code, report) = wait_for(Duration::from_secs(5), || Some(status(&nats)).filter(|(c, _)| *c == 0))
        .unwrap_or_else(|| panic!("the nodes never agreed: {:#}", status(&nats).1));
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["revision"], 2);
    let states: Vec<(&str, &str, i64)> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["state"].as_str().unwrap(), n["revision"].as_i64().unwrap()))
        .collect();
    assert_eq!(states, [("n1", "current", 2), ("n2", "current", 2), ("n3", "current", 2)]);
    for n in report["nodes"].as_array().unwrap() {
        // Delivery is held in these tests: each node's one message waits in its queue.
        assert_eq!(n["queue_length"], 1, "{n:#}");
        assert!(
            n["uptime_secs"].as_u64().is_some() && n["last_heartbeat"].as_str().unwrap().starts_with("20"),
            "{n:#}"
        );
        assert!(n["seconds_since_heartbeat"].as_f64().unwrap() < 3.0, "{n:#}");
    }

    nats.kill();
    for node in &nodes {
        wait_metric(node, "doorman_cluster_connected", 0.0, 10, "the node never saw NATS go");
        assert!(rcpt(node, BOB).starts_with("250 2.1.5"), "the last policy serves on");
    }
    let (code, _, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE, BOB, CAROL], &mail), &[]);
    assert_eq!(code, 2, "a publish with NATS down fails: {err}");
    assert!(err.contains("cannot reach NATS"), "{err}");

    // A node that starts while NATS is down serves the revision it kept on disk.
    nodes[2].kill9();
    nodes[2].spawn();
    let log = nodes[2].log();
    assert!(log.contains("serving policy revision 2 from the snapshot in the spool"), "{log}");
    assert!(rcpt(&nodes[2], BOB).starts_with("250 2.1.5"));
    assert_eq!(metric(&nodes[2], "doorman_cluster_serving_snapshot"), Some(1.0));
    assert_eq!(metric(&nodes[2], "doorman_cluster_connected"), Some(0.0));

    nats.restart();
    let published = Instant::now();
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE, BOB, CAROL], &mail), &["--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published as revision 3") && out.contains("in force on all 3 live node(s)"), "{out}");
    for node in &nodes {
        let took = until_answer(node, CAROL, "250", published);
        eprintln!("after the NATS restart: publish to new RCPT answer in {took:?}");
        wait_metric(node, "doorman_cluster_serving_snapshot", 0.0, 10, "still serving the snapshot");
    }

    // Each node refused bob under revision 1: the cluster's trace has it, with the node that
    // logged it (n3's from before its restart too).
    let (code, out, err) = doorman(&["trace", "--cluster", &nats.url(), "--rcpt", BOB, "--event", "reject", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut seen: Vec<&str> = lines.iter().map(|l| l["node"].as_str().unwrap()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["n1", "n2", "n3"], "{out}");
    assert!(lines.iter().all(|l| l["reply"].as_str().unwrap().starts_with("550 5.4.1")), "{out}");
    let (code, table, _) = doorman(&["trace", "--cluster", &nats.url(), "--node", "n2", "--rcpt", BOB]);
    assert_eq!(code, 0);
    assert!(table.starts_with("TIME") && table.lines().next().unwrap().contains("NODE"), "{table}");
    assert!(table.lines().skip(1).all(|l| l.contains(" n2 ")), "{table}");
    for node in &nodes[..2] {
        assert!(metric(node, "doorman_cluster_trace_events_published_total").unwrap() > 0.0);
    }
    // The same door labels as for a local log: the three messages came by the front door.
    let labelled = dir.join("policy.toml").display().to_string();
    let (code, out, err) = doorman(&["trace", "--cluster", &nats.url(), "--config", &labelled]);
    assert_eq!(code, 0, "no side door: {out}{err}");
    assert_eq!(out.matches("front door  t ").count(), 3, "{out}");
    assert!(out.contains("3 message(s)") && out.contains("t: 3 front door"), "{out}");
}

/// A policy with errors is not published; a change that opens access is not published with
/// --fail-on-new-access; and revisions written to NATS around doorman (garbage, or a policy
/// that fails the checks) are refused by every node, which keeps the one in force.
#[test]
fn a_bad_policy_cannot_be_published_and_one_written_around_doorman_is_refused_by_every_node() {
    let dir = test_dir("cluster-bad");
    let mail = dir.join("mail");
    let nats = Nats::start(&dir);
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE], &mail), &[]);
    assert_eq!(code, 0, "{out}{err}");
    let nodes = start_nodes("cluster-bad", &nats, &["n1", "n2", "n3"], "");

    let twice =
        format!("{}\n{}", policy(&[ALICE], &mail), policy(&[BOB], &mail).replace("name = \"t\"", "name = \"u\""));
    let (code, out, err) = publish(&dir, &nats, "twice.toml", &twice, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("twice.toml:") && err.contains("tenants[1].accepted_domains[0].domain"), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    let (code, out, err) = publish(&dir, &nats, "node-part.toml", "[server]\nhostname = \"x\"\n", &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("node-part.toml:1:1: server: a published policy holds tenants only"), "{err}");
    let (code, out, err) = publish(&dir, &nats, "wider.toml", &policy(&[ALICE, BOB], &mail), &["--fail-on-new-access"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("delivery gained") && err.contains("opens access against revision 1"), "{out}{err}");
    assert_eq!(status(&nats).1["revision"], 1, "nothing was published");
    let (code, out, err) =
        publish(&dir, &nats, "narrower.toml", &policy(&[], &mail), &["--fail-on-new-access", "--wait"]);
    assert_eq!(code, 0, "taking access away passes: {out}{err}");
    assert!(out.contains("published as revision 2"), "{out}");

    // Written with the NATS client alone: not a document, then a document whose policy
    // claims t.test twice. Each is refused by every node, which keeps revision 2.
    let document =
        |policy: &str| serde_json::json!({"format": 1, "policy": policy, "source": "by-hand.toml"}).to_string();
    let refused = |count: f64, revision: u64| {
        for node in &nodes {
            wait_metric(
                node,
                "doorman_cluster_revisions_refused_total",
                count,
                10,
                &format!("revision {revision} was not refused"),
            );
            let log = node.log();
            assert!(
                log.contains(&format!("policy revision {revision} refused by this node; still serving revision 2")),
                "{log}"
            );
            assert_eq!(metric(node, "doorman_cluster_policy_revision"), Some(2.0));
            assert!(rcpt(node, ALICE).starts_with("550 5.4.1"), "revision 2 (nobody) still serves");
        }
    };
    assert_eq!(put_around_doorman(&nats, b"not a document".to_vec()), 3);
    refused(1.0, 3);
    assert!(nodes[0].log().contains("cluster policy revision 3: not a doorman policy document"), "{}", nodes[0].log());
    assert_eq!(put_around_doorman(&nats, document(&twice).into_bytes()), 4);
    refused(2.0, 4);
    let log = nodes[1].log();
    assert!(
        log.contains("cluster policy revision 4 (by-hand.toml):17:10: tenants[1].accepted_domains[0].domain: t.test is already an accepted domain of tenant \"t\""),
        "{log}"
    );
    let (code, report) = wait_for(Duration::from_secs(10), || {
        let (code, r) = status(&nats);
        r["nodes"].as_array().unwrap().iter().all(|n| n["refused_revision"] == 4).then_some((code, r))
    })
    .unwrap();
    assert_eq!(code, 1, "the nodes lag the revision in force: {report:#}");
    assert_eq!(report["revision"], 4);
    assert!(report["nodes"].as_array().unwrap().iter().all(|n| n["state"] == "lagging" && n["revision"] == 2));

    // A gate against the revision the nodes apply (2), not the latest, which none applies.
    let (code, out, err) = publish(&dir, &nats, "wider.toml", &policy(&[ALICE], &mail), &["--fail-on-new-access"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("opens access against revision 2 (in force on a node)"), "{err}");
    assert!(err.contains("revision 4 does not load"), "{err}");
    // The way out is a good policy: the next revision, which every node takes.
    let (code, out, err) = publish(&dir, &nats, "fixed.toml", &policy(&[BOB], &mail), &["--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published as revision 5") && out.contains("in force on all 3 live node(s)"), "{out}");
    for node in &nodes {
        assert!(rcpt(node, BOB).starts_with("250 2.1.5"));
    }
    let (_, report) = wait_for(Duration::from_secs(5), || Some(status(&nats)).filter(|(c, _)| *c == 0))
        .unwrap_or_else(|| panic!("the nodes never agreed on revision 5"));
    assert_eq!(report["revision"], 5, "{report:#}");
}

/// A revision a node refused because of its own file (here: one with no tenants, which a
/// node takes only with `server.allow_empty`) is tried again once that file changes. And a
/// NATS that lost its store, whose revisions start again at 1, is followed all the same.
#[test]
fn a_revision_refused_for_the_nodes_own_file_is_taken_once_the_file_allows_it() {
    let dir = test_dir("cluster-retry");
    let mut nats = Nats::start(&dir);
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE], &dir.join("mail")), &[]);
    assert_eq!(code, 0, "{out}{err}");
    let nodes = start_nodes("cluster-retry", &nats, &["n1"], "");
    let node = &nodes[0];
    let (code, out, err) = publish(&dir, &nats, "empty.toml", "# every tenant gone\n", &[]);
    assert_eq!(code, 0, "an empty policy is a warning for the publisher: {out}{err}");
    assert!(err.contains("warning") && err.contains("no tenants"), "{err}");
    wait_metric(node, "doorman_cluster_revisions_refused_total", 1.0, 10, "revision 2 was not refused");
    assert!(node.log().contains("it has no tenants, where generation 1 has 1"), "{}", node.log());
    assert!(rcpt(node, ALICE).starts_with("250"), "revision 1 serves on");

    let section = cluster_section(&nats, "n1", "");
    node.rewrite_config("allow_empty = true", &section);
    wait_metric(node, "doorman_cluster_policy_revision", 2.0, 15, "revision 2 was not taken after the file changed");
    assert!(rcpt(node, ALICE).starts_with("550 5.7.64"), "no tenant takes t.test any more: {}", rcpt(node, ALICE));

    // NATS loses its store: the numbers start again at 1, below the node's 2, and the node
    // takes the new revision all the same.
    nats.wipe();
    nats.restart();
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[BOB], &dir.join("mail")), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published as revision 1"), "{out}");
    wait_metric(node, "doorman_cluster_policy_revision", 1.0, 15, "revision 1 of the new bucket was not taken");
    assert!(
        node.log().contains("the cluster's latest policy revision 1 is older than revision 2 in force"),
        "{}",
        node.log()
    );
    assert!(rcpt(node, BOB).starts_with("250 2.1.5"));
}

/// Puts a value under the policy key with the NATS client only, as someone working around
/// doorman would; gives its revision.
fn put_around_doorman(nats: &Nats, value: Vec<u8>) -> u64 {
    let url = nats.url();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
        let client = async_nats::connect(url).await.unwrap();
        let kv = async_nats::jetstream::new(client).get_key_value("doorman").await.unwrap();
        kv.put("policy", value.into()).await.unwrap()
    })
}

/// A stopped node shows as silent after three missed heartbeats, and the status exits 1.
#[test]
fn cluster_status_shows_a_stopped_node_as_silent() {
    let dir = test_dir("cluster-silent");
    let nats = Nats::start(&dir);
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE], &dir.join("mail")), &[]);
    assert_eq!(code, 0, "{out}{err}");
    let mut nodes = start_nodes("cluster-silent", &nats, &["n1", "n2"], "");
    let (code, report) = wait_for(Duration::from_secs(10), || {
        let (code, r) = status(&nats);
        (r["nodes"].as_array().unwrap().len() == 2).then_some((code, r))
    })
    .unwrap();
    assert_eq!(code, 0, "{report:#}");
    nodes[1].kill9();
    let (code, out, _) = wait_for(Duration::from_secs(15), || {
        let r = doorman(&["cluster", "status", "--cluster", &nats.url()]);
        r.1.contains("SILENT").then_some(r)
    })
    .expect("n2 never showed as silent");
    assert_eq!(code, 1, "{out}");
    let n2 = out.lines().find(|l| l.starts_with("n2 ")).unwrap();
    assert!(n2.contains("SILENT") && n2.contains(" 1 "), "{out}");
    assert!(out.lines().find(|l| l.starts_with("n1 ")).unwrap().contains("current"), "{out}");
    assert!(out.contains("1 of 2 node(s) lag or are silent"), "{out}");
}

/// With NATS gone, events that do not fit the trace buffer are counted as dropped and logged,
/// and the local tracking log still has every one; the sessions are not held up.
#[test]
fn trace_events_that_overflow_the_buffer_are_counted_and_kept_in_the_local_log() {
    let dir = test_dir("cluster-overflow");
    let mut nats = Nats::start(&dir);
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE], &dir.join("mail")), &[]);
    assert_eq!(code, 0, "{out}{err}");
    let nodes = start_nodes("cluster-overflow", &nats, &["n1"], "trace_buffer = 2");
    let node = &nodes[0];
    nats.kill();
    wait_metric(node, "doorman_cluster_connected", 0.0, 10, "the node never saw NATS go");
    let started = Instant::now();
    for _ in 0..20 {
        assert!(rcpt(node, ALICE).starts_with("250"));
    }
    eprintln!("20 sessions with NATS down took {:?}", started.elapsed());
    let connects = node.wait_tracking_n(20, |l| l["event"] == "connect");
    assert_eq!(connects.len(), 20, "every session is in the local log");
    // 20 connect events; 2 fit the buffer and the publisher holds at most 1: at least 17
    // are dropped at once, and none is counted twice.
    let dropped = wait_for(Duration::from_secs(10), || {
        metric(node, "doorman_cluster_trace_events_dropped_total").filter(|&d| d >= 17.0)
    })
    .unwrap_or_else(|| panic!("too few drops counted:\n{}", node.metrics()));
    assert!(dropped <= 20.0, "{dropped}");
    assert!(node.log().contains("the trace buffer is full"), "{}", node.log());
}

/// Two publishers that checked their change against the same revision: the second is told
/// so, instead of overwriting the first unseen.
#[test]
fn two_publishers_at_once_cannot_overwrite_each_other() {
    let dir = test_dir("cluster-race");
    let nats = Nats::start(&dir);
    let (code, out, err) = publish(&dir, &nats, "policy.toml", &policy(&[ALICE], &dir.join("mail")), &[]);
    assert_eq!(code, 0, "{out}{err}");
    let cluster = doorman_config::Cluster::at(&nats.url());
    let (first, second) = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let conn = doorman_cluster::connect(&cluster, "test").await.unwrap();
        let store = doorman_cluster::store::PolicyStore::open(&conn, &cluster).await.unwrap();
        let checked_against = store.latest().await.unwrap().unwrap().number;
        let document = |text: &str| doorman_config::PolicyDocument::new("p.toml", text, Default::default());
        let first = store.publish(&document(&policy(&[BOB], &dir)), Some(checked_against)).await;
        let second = store.publish(&document(&policy(&[CAROL], &dir)), Some(checked_against)).await;
        (first.map_err(|e| e.to_string()), second.map_err(|e| e.to_string()))
    });
    assert_eq!(first, Ok(2));
    assert_eq!(
        second,
        Err("revision 2 was published meanwhile (this change was checked against 1); run again".to_string())
    );
    assert_eq!(status(&nats).1["revision"], 2);
}
