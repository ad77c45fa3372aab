//! What EOP does to accepted mail, on the wire: SPF, DKIM, DMARC and ARC against a real DNS
//! server (dnsmasq), enhanced filtering behind a gateway, and spam filtering by a real rspamd
//! that a copy with SCL -1 never reaches.

use std::time::Duration;

use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::{Value, json};

use crate::support::*;

/// dnsmasq with the senders' SPF, DKIM and DMARC records, and a block list.
struct World {
    dns: Dns,
    /// sender.test's DKIM key (selector `sel`).
    sender_key: Vec<u8>,
    /// lists.test's ARC key (selector `arc`).
    list_key: Vec<u8>,
}

impl World {
    fn start(dir: &std::path::Path) -> World {
        let sender_key = Ed25519Key::generate_pkcs8().unwrap();
        let list_key = Ed25519Key::generate_pkcs8().unwrap();
        let public = |k: &[u8]| base64(&Ed25519Key::from_pkcs8_der(k).unwrap().public_key());
        let txt = |name: &str, text: &str| format!("--txt-record={name},{text}");
        let dns = Dns::start_with(
            dir,
            &[
                "--local=/test/".to_string(),
                // sender.test sends from 127.0.0.10 only, signs, and wants failures rejected.
                txt("sender.test", "v=spf1 ip4:127.0.0.10 -all"),
                txt("sel._domainkey.sender.test", &format!("v=DKIM1; k=ed25519; p={}", public(&sender_key))),
                txt("_dmarc.sender.test", "v=DMARC1; p=reject"),
                // quarantine.test sends from 127.0.0.10 and wants failures in junk.
                txt("quarantine.test", "v=spf1 ip4:127.0.0.10 -all"),
                txt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine"),
                txt("arc._domainkey.lists.test", &format!("v=DKIM1; k=ed25519; p={}", public(&list_key))),
                // 127.0.0.66 is on the block list.
                "--host-record=66.0.0.127.bl.test,127.0.0.2".to_string(),
            ],
        );
        World { dns, sender_key, list_key }
    }

    fn server_keys(&self, extra: &str) -> String {
        format!(
            "dnsbl_zones = [\"bl.test\"]\n{extra}\n{DELIVER}\n[server.authentication]\nenabled = true\n\n[server.dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"3s\"\n",
            self.dns.port
        )
    }

    /// `message` with sender.test's DKIM signature over From, To and Subject and the body.
    fn signed(&self, message: &str) -> String {
        let key = Ed25519Key::from_pkcs8_der(&self.sender_key).unwrap();
        let signature = DkimSigner::from_key(key)
            .domain("sender.test")
            .selector("sel")
            .headers(["From", "To", "Subject"])
            .sign(message.as_bytes())
            .unwrap();
        format!("{}{message}", signature.to_header())
    }
}

impl World {
    /// `original` as lists.test forwards it: a subject tag (its DKIM signature breaks), sealed
    /// with ARC over what the list saw when it came from 127.0.0.10 (DKIM and DMARC pass), and
    /// with `remote_ip` recorded as the client in the seal's results when given.
    fn forwarded_by_the_list(&self, original: &str, remote_ip: Option<&str>) -> String {
        use mail_auth::arc::ArcSealer;
        use mail_auth::dmarc::verify::DmarcParameters;
        use mail_auth::spf::verify::SpfParameters;
        use mail_auth::{AuthenticatedMessage, AuthenticationResults, MessageAuthenticator};

        let forwarded = original.replace("Subject: Quarterly figures", "Subject: [list] Quarterly figures");
        let dns = doorman_config::Dns {
            servers: vec![format!("127.0.0.1:{}", self.dns.port).parse().unwrap()],
            ..Default::default()
        };
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let auth = MessageAuthenticator(doorman_dns::resolver(&dns).unwrap());
            let received = AuthenticatedMessage::parse(original.as_bytes()).unwrap();
            let dkim = auth.verify_dkim(&received).await;
            let spf = auth
                .verify_spf(SpfParameters::verify_mail_from(
                    "127.0.0.10".parse().unwrap(),
                    "mail.sender.test",
                    "lists.test",
                    "news@sender.test",
                ))
                .await;
            let dmarc = auth.verify_dmarc(DmarcParameters::new(&received, &dkim, "sender.test", &spf)).await;
            let outgoing = AuthenticatedMessage::parse(forwarded.as_bytes()).unwrap();
            let arc = auth.verify_arc(&outgoing).await;
            let mut results = AuthenticationResults::new("lists.test")
                .with_dkim_results(&dkim, "news@sender.test")
                .with_dmarc_result(&dmarc);
            if let Some(ip) = remote_ip {
                results = results.with_arc_result(&arc, ip.parse().unwrap());
            }
            let key = Ed25519Key::from_pkcs8_der(&self.list_key).unwrap();
            let set = ArcSealer::from_key(key)
                .domain("lists.test")
                .selector("arc")
                .headers(["From", "To", "Subject", "DKIM-Signature"])
                .seal(&outgoing, &results, &arc)
                .unwrap();
            format!("{}{forwarded}", set.to_header())
        })
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn message(from: &str, id: &str, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <alice@contoso.test>\r\nSubject: Quarterly figures\r\nMessage-ID: <{id}>\r\n\r\n{body}\r\n"
    )
}

/// Deliver at once (the edge's tests hold delivery otherwise).
const DELIVER: &str = "[server.queue]\nretry_schedule = [\"1s\"]\n";

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// contoso.test behind a gateway at 127.0.0.20, delivered to Maildir; `extra` goes into the
/// tenant (connector options, policies).
fn contoso(connector_extra: &str, tenant_extra: &str) -> String {
    format!(
        r#"[[tenants]]
name = "contoso"
mx = [{{ host = "mx.gateway.test", addresses = ["127.0.0.20"] }}]
recipients = ["alice@contoso.test"]
accepted_domains = [{{ domain = "contoso.test" }}]
routing = {{ type = "maildir", path = "mailboxes" }}
{tenant_extra}

[[tenants.inbound_connectors]]
name = "From the gateway"
type = "partner"
sender_ip_addresses = ["127.0.0.20"]
{connector_extra}
"#
    )
}

const SCL_MINUS_ONE: &str = r#"
[[tenants.transport_rules]]
name = "Skip spam filtering for the gateway"
conditions.sender_ip_ranges = ["127.0.0.20"]
actions.set_scl = -1
"#;

fn send(edge: &Edge, source: &str, helo: &str, from: &str, message: &str) -> Value {
    let out = edge.smtplib(json!([{"source": source, "helo": helo,
        "transactions": [{"mail_from": from, "rcpts": ["alice@contoso.test"], "message": message}]}]));
    out[0]["transactions"][0]["data"].clone()
}

/// The messages in alice's Maildir folder (`""` for the inbox, `"Junk"`): each one's
/// Message-ID and Authentication-Results and X-This-Is-Spam fields.
fn folder(edge: &Edge, name: &str) -> Vec<Value> {
    let script = format!(
        "import mailbox, json\nbox = mailbox.Maildir({:?}, create=False)\n\
         f = box if {name:?} == '' else box.get_folder({name:?})\n\
         print(json.dumps([{{'id': m['Message-ID'], 'ar': m.get_all('Authentication-Results') or [], 'spam': m['X-This-Is-Spam'], 'subject': m['Subject']}} for m in f]))",
        edge.dir.join("mailboxes/alice@contoso.test").display().to_string()
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

fn delivered(edge: &Edge, name: &str, id: &str) -> Value {
    wait_for(Duration::from_secs(10), || folder(edge, name).into_iter().find(|m| m["id"] == format!("<{id}>")))
        .unwrap_or_else(|| panic!("{id} never reached folder {name:?}: {:?}", edge.tracking()))
}

fn one_line(ar: &Value) -> String {
    ar.as_str().unwrap().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn gtube_from_a_stranger_is_quarantined_and_from_the_gateway_with_scl_minus_one_is_never_scanned() {
    let dir = test_dir("filter-gtube-rspamd");
    let rspamd = Rspamd::start(&dir);
    let filter =
        format!("{DELIVER}[server.spam_filter]\naddress = \"unix:{}\"\ntimeout = \"10s\"\n", rspamd.socket.display());
    let edge = Edge::start("filter-gtube", &filter, &contoso("", SCL_MINUS_ONE));

    let stranger = send(
        &edge,
        "127.0.0.30",
        "stranger.test",
        "x@stranger.test",
        &message("x@stranger.test", "stranger-gtube@test", GTUBE),
    );
    assert_eq!(code(&stranger), 250, "{stranger}");
    let q = edge.wait_tracking(|l| l["event"] == "quarantine");
    assert_eq!((q["scl"].as_i64(), q["scl_source"].as_str()), (Some(9), Some("spam_filter")), "{q}");
    assert!(q["spam_score"].is_number(), "{q}");

    let gateway = send(
        &edge,
        "127.0.0.20",
        "mx.gateway.test",
        "x@stranger.test",
        &format!(
            "Authentication-Results: edge.test; dmarc=pass\r\n{}",
            message("x@stranger.test", "gateway-gtube@test", GTUBE)
        ),
    );
    assert_eq!(code(&gateway), 250, "{gateway}");
    let inbox = delivered(&edge, "", "gateway-gtube@test");
    assert_eq!(inbox["spam"], Value::Null, "{inbox}");
    // Not authenticated, and a field in the edge's name that it did not write is replaced.
    assert_eq!(inbox["ar"], json!(["edge.test; none"]), "{inbox}");
    let r = edge.wait_tracking(|l| l["event"] == "receive" && l["client_ip"] == "127.0.0.20");
    assert_eq!(
        (r["scl"].as_i64(), r["scl_source"].as_str(), r.get("spam_score")),
        (Some(-1), Some("rule"), None),
        "{r}"
    );

    // rspamd's own log: the stranger's message was scanned, the gateway's never.
    let log = rspamd.log();
    assert!(log.contains("stranger-gtube@test"), "rspamd logged no scan of the stranger's message:\n{log}");
    assert!(!log.contains("gateway-gtube@test"), "rspamd scanned the SCL -1 copy:\n{log}");
}

#[test]
fn a_policy_can_send_high_confidence_spam_to_the_junk_folder_or_tag_it() {
    let dir = test_dir("filter-junk-rspamd");
    let rspamd = Rspamd::start(&dir);
    let filter = format!("{DELIVER}[server.spam_filter]\naddress = \"unix:{}\"\n", rspamd.socket.display());
    let policy = "anti_spam = { high_confidence_spam_action = \"move_to_junk\" }";
    let edge = Edge::start("filter-junk", &filter, &contoso("", policy));
    assert_eq!(
        code(&send(
            &edge,
            "127.0.0.30",
            "s.test",
            "x@stranger.test",
            &message("x@stranger.test", "junk-gtube@test", GTUBE)
        )),
        250
    );
    delivered(&edge, "Junk", "junk-gtube@test");
    assert_eq!(
        code(&send(
            &edge,
            "127.0.0.30",
            "s.test",
            "x@stranger.test",
            &message("x@stranger.test", "ham@test", "Lunch?")
        )),
        250
    );
    let ham = delivered(&edge, "", "ham@test");
    assert_eq!(ham["spam"], Value::Null);
    let r = edge.wait_tracking(|l| l["event"] == "receive" && l["scl"] == 1);
    assert_eq!(r["scl_source"], "spam_filter", "{r}");

    let tag = "anti_spam = { high_confidence_spam_action = \"add_header\" }";
    edge.rewrite_config(&filter, &contoso("", tag));
    edge.wait_generation(2);
    assert_eq!(
        code(&send(
            &edge,
            "127.0.0.30",
            "s.test",
            "x@stranger.test",
            &message("x@stranger.test", "tagged@test", GTUBE)
        )),
        250
    );
    let tagged = delivered(&edge, "", "tagged@test");
    assert_eq!(tagged["spam"], "This message appears to be spam.", "{tagged}");
}

#[test]
fn a_stopped_spam_filter_gets_451_and_nothing_is_lost() {
    let dir = test_dir("filter-down-rspamd");
    let mut rspamd = Rspamd::start(&dir);
    let filter =
        format!("{DELIVER}[server.spam_filter]\naddress = \"unix:{}\"\ntimeout = \"5s\"\n", rspamd.socket.display());
    let edge = Edge::start("filter-down", &filter, &contoso("", ""));
    rspamd.stop();
    let m = message("x@stranger.test", "retry@test", "Lunch?");
    let refused = send(&edge, "127.0.0.30", "s.test", "x@stranger.test", &m);
    assert_eq!(code(&refused), 451, "{refused}");
    assert!(text(&refused).starts_with("451 4.7.0 "), "{refused}");
    assert!(edge.spool().is_empty(), "nothing was queued");
    let r = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "data");
    assert!(r["reply"].as_str().unwrap().starts_with("451 4.7.0"), "{r}");
    // The client keeps the message and tries again; with rspamd back, it goes through.
    let rspamd = Rspamd::start(&dir);
    assert_eq!(rspamd.socket, dir.join("rspamd/rspamd.sock"));
    assert_eq!(code(&send(&edge, "127.0.0.30", "s.test", "x@stranger.test", &m)), 250);
    delivered(&edge, "", "retry@test");
}

#[test]
fn spf_and_dkim_pass_and_fail_and_dmarc_reject_gives_5_7_509() {
    let dir = test_dir("filter-auth-dns");
    let world = World::start(&dir);
    let edge = Edge::start("filter-auth", &world.server_keys(""), &contoso("", ""));

    // Signed, from the address SPF names: everything passes.
    let good = world.signed(&message("news@sender.test", "good@test", "Figures attached."));
    assert_eq!(code(&send(&edge, "127.0.0.10", "mail.sender.test", "news@sender.test", &good)), 250);
    let ar = one_line(&delivered(&edge, "", "good@test")["ar"][0]);
    assert!(ar.starts_with("edge.test; spf=pass smtp.mailfrom=news@sender.test (client-ip=127.0.0.10)"), "{ar}");
    assert!(ar.contains("dkim=pass header.d=sender.test header.s=sel"), "{ar}");
    assert!(ar.contains("dmarc=pass action=reject header.from=sender.test"), "{ar}");
    assert!(ar.ends_with("compauth=pass reason=100"), "{ar}");
    let r = edge.wait_tracking(|l| l["event"] == "receive" && l["compauth"].is_string());
    assert_eq!((r["compauth"].as_str(), r["dmarc"].as_str()), (Some("pass reason=100"), Some("pass p=reject")), "{r}");

    // Signed, from an address SPF does not name: SPF fails, DKIM carries DMARC.
    let elsewhere = world.signed(&message("news@sender.test", "elsewhere@test", "Figures attached."));
    assert_eq!(code(&send(&edge, "127.0.0.11", "relay.test", "news@sender.test", &elsewhere)), 250);
    let ar = one_line(&delivered(&edge, "", "elsewhere@test")["ar"][0]);
    assert!(ar.contains("spf=fail smtp.mailfrom=news@sender.test (client-ip=127.0.0.11)"), "{ar}");
    assert!(ar.contains("dkim=pass") && ar.contains("dmarc=pass"), "{ar}");

    // The body changed after signing, and SPF fails: DMARC fails under p=reject.
    let changed = world
        .signed(&message("news@sender.test", "changed@test", "Figures attached."))
        .replace("Figures attached.", "Pay this invoice.");
    let refused = send(&edge, "127.0.0.11", "relay.test", "news@sender.test", &changed);
    assert_eq!(code(&refused), 550, "{refused}");
    assert_eq!(
        text(&refused),
        "550 5.7.509 Access denied, sending domain SENDER.TEST does not pass DMARC verification and has a DMARC policy of reject"
    );
    let r = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "data");
    assert_eq!((r["compauth"].as_str(), r["dmarc"].as_str()), (Some("fail reason=000"), Some("fail p=reject")), "{r}");

    // DKIM alone fails after the body change, but SPF passes: delivered, and the header says so.
    let dkim_broken = world
        .signed(&message("news@sender.test", "dkimfail@test", "Figures attached."))
        .replace("Figures attached.", "Figures attached!");
    assert_eq!(code(&send(&edge, "127.0.0.10", "mail.sender.test", "news@sender.test", &dkim_broken)), 250);
    let ar = one_line(&delivered(&edge, "", "dkimfail@test")["ar"][0]);
    assert!(
        ar.contains("spf=pass") && ar.contains("dkim=fail header.d=sender.test") && ar.contains("dmarc=pass"),
        "{ar}"
    );

    // Two author domains cannot be judged as one: the strictest policy applies.
    let two = world
        .signed(&message("news@sender.test", "two@test", "Hello"))
        .replace("From: <news@sender.test>", "From: <news@sender.test>, <boss@other.test>");
    let refused = send(&edge, "127.0.0.10", "mail.sender.test", "news@sender.test", &two);
    assert_eq!(code(&refused), 550, "{refused}");

    // p=quarantine: the Junk Email folder.
    let unsigned = message("news@quarantine.test", "quarantine@test", "Hello");
    assert_eq!(code(&send(&edge, "127.0.0.11", "relay.test", "news@quarantine.test", &unsigned)), 250);
    let junk = delivered(&edge, "Junk", "quarantine@test");
    assert!(one_line(&junk["ar"][0]).contains("dmarc=fail action=quarantine"), "{junk}");
    let r = edge.wait_tracking(|l| l["compauth"] == "fail reason=000" && l["event"] == "receive");
    assert_eq!(r["scl_source"], "authentication", "{r}");

    // A client's own Authentication-Results naming this host is not passed on.
    let forged =
        format!("Authentication-Results: edge.test; dmarc=pass\r\n{}", message("x@stranger.test", "forged@test", "hi"));
    assert_eq!(code(&send(&edge, "127.0.0.30", "s.test", "x@stranger.test", &forged)), 250);
    let f = delivered(&edge, "", "forged@test");
    assert_eq!(f["ar"].as_array().unwrap().len(), 1, "{f}");
    assert!(!one_line(&f["ar"][0]).contains("dmarc=pass"), "{f}");
}

#[test]
fn dmarc_reject_can_go_to_quarantine_instead() {
    let dir = test_dir("filter-dmarc-q-dns");
    let world = World::start(&dir);
    let edge =
        Edge::start("filter-dmarc-q", &world.server_keys(""), &contoso("", "dmarc_reject_action = \"quarantine\""));
    let unsigned = message("news@sender.test", "dmarcq@test", "Hello");
    assert_eq!(code(&send(&edge, "127.0.0.11", "relay.test", "news@sender.test", &unsigned)), 250);
    let q = edge.wait_tracking(|l| l["event"] == "quarantine");
    assert_eq!(q["dmarc"], "fail p=reject", "{q}");
}

/// The gateway (127.0.0.20) relays mail that sender.test's own server (127.0.0.10) gave it.
/// Without enhanced filtering SPF sees only the gateway; with `skip_last_ip` it reads the
/// gateway's `Received` field and judges the original sender.
#[test]
fn behind_the_gateway_skip_last_ip_judges_the_original_sender() {
    let dir = test_dir("filter-ef-dns");
    let world = World::start(&dir);
    let relayed = |id: &str, from_ip: &str| {
        format!(
            "Received: from mail.sender.test (mail.sender.test [{from_ip}])\r\n\tby mx.gateway.test with ESMTPS id 1; Tue, 1 Dec 2026 10:00:00 +0000\r\n{}",
            message("news@sender.test", id, "Hello")
        )
    };
    let edge = Edge::start("filter-ef-off", &world.server_keys(""), &contoso("", ""));
    let refused =
        send(&edge, "127.0.0.20", "mx.gateway.test", "news@sender.test", &relayed("ef-off@test", "127.0.0.10"));
    assert_eq!(code(&refused), 550, "SPF judged the gateway, and DMARC failed: {refused}");
    drop(edge);

    let ef = "enhanced_filtering = { skip_last_ip = true }";
    let edge = Edge::start("filter-ef-on", &world.server_keys(""), &contoso(ef, ""));
    assert_eq!(
        code(&send(&edge, "127.0.0.20", "mx.gateway.test", "news@sender.test", &relayed("ef-on@test", "127.0.0.10"))),
        250
    );
    let ar = one_line(&delivered(&edge, "", "ef-on@test")["ar"][0]);
    assert!(ar.contains("spf=pass smtp.mailfrom=news@sender.test (client-ip=127.0.0.10)"), "{ar}");
    assert!(ar.contains("dmarc=pass"), "{ar}");
    let r = edge.wait_tracking(|l| l["event"] == "receive");
    assert_eq!(
        (r["client_ip"].as_str(), r["original_client_ip"].as_str()),
        (Some("127.0.0.20"), Some("127.0.0.10")),
        "{r}"
    );

    // A stranger that the connector takes by sender domain alone cannot skip its own hop:
    // its forged Received field naming sender.test's server is not read.
    let forged =
        send(&edge, "127.0.0.30", "mail.sender.test", "news@sender.test", &relayed("ef-forged@test", "127.0.0.10"));
    assert_eq!(code(&forged), 550, "{forged}");
    assert!(text(&forged).contains("5.7.509"), "{forged}");

    // The original client is judged by the DNSBLs too.
    let listed =
        send(&edge, "127.0.0.20", "mx.gateway.test", "news@sender.test", &relayed("ef-listed@test", "127.0.0.66"));
    assert_eq!(code(&listed), 550, "{listed}");
    assert!(text(&listed).contains("blocked using bl.test"), "{listed}");
}

/// lists.test forwards sender.test's mail with a changed subject (DKIM breaks) from its own
/// address (SPF fails), and seals what it saw with ARC. A tenant that trusts the sealer
/// takes it (compauth reason 130); one that does not applies DMARC's reject.
#[test]
fn an_arc_seal_by_a_trusted_sealer_stands_in_for_the_broken_dkim() {
    let dir = test_dir("filter-arc-dns");
    let world = World::start(&dir);
    let original = world.signed(&message("news@sender.test", "arc@test", "Hello list"));
    let sealed = world.forwarded_by_the_list(&original, None);

    let untrusted = Edge::start("filter-arc-untrusted", &world.server_keys(""), &contoso("", ""));
    let refused = send(&untrusted, "127.0.0.40", "lists.test", "news@sender.test", &sealed);
    assert_eq!(code(&refused), 550, "{refused}");
    drop(untrusted);

    let edge = Edge::start(
        "filter-arc-trusted",
        &world.server_keys(""),
        &contoso("", "trusted_arc_sealers = [\"lists.test\"]"),
    );
    assert_eq!(code(&send(&edge, "127.0.0.40", "lists.test", "news@sender.test", &sealed)), 250);
    let ar = one_line(&delivered(&edge, "", "arc@test")["ar"][0]);
    assert!(ar.contains("spf=fail") && ar.contains("dkim=fail") && ar.contains("dmarc=fail"), "{ar}");
    assert!(ar.contains("arc=pass") && ar.contains("smtp.remote-sealer=lists.test"), "{ar}");
    assert!(ar.ends_with("compauth=pass reason=130"), "{ar}");
}

/// `explain --message` runs DATA on a real message: the same lookups and the same scan as
/// the edge, so it shows the 5.7.509 the edge gives, and the SCL -1 copy that is never scanned.
#[test]
fn explain_with_a_message_authenticates_and_scans_as_the_edge_does() {
    let dir = test_dir("filter-explain-dns");
    let world = World::start(&dir);
    let rspamd = Rspamd::start(&dir);
    let keys = world.server_keys(&format!("[server.spam_filter]\naddress = \"unix:{}\"\n", rspamd.socket.display()));
    let edge = Edge::start("filter-explain", &keys, &contoso("", SCL_MINUS_ONE));
    let config = edge.config.to_str().unwrap().to_string();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let changed = world.signed(&message("news@sender.test", "x1@test", "Figures")).replace("Figures", "Invoice");
    let file = write("changed.eml", &changed);
    let args = |ip: &str, from: &str, file: &str, json: bool| {
        let mut a =
            vec!["explain", "--config", &config, "--client-ip", ip, "--helo", "relay.test", "--mail-from", from];
        a.extend(["--rcpt", "alice@contoso.test", "--message", file]);
        if json {
            a.push("--json");
        }
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| edge.doorman(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out, err) = run(args("127.0.0.11", "news@sender.test", &file, false));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("550 5.7.509 Access denied, sending domain SENDER.TEST does not pass DMARC verification"),
        "{out}"
    );
    assert!(out.contains("compauth=fail reason=000"), "{out}");
    // The edge agrees.
    let refused = send(&edge, "127.0.0.11", "relay.test", "news@sender.test", &changed);
    assert_eq!(
        text(&refused),
        "550 5.7.509 Access denied, sending domain SENDER.TEST does not pass DMARC verification and has a DMARC policy of reject"
    );

    let gtube = write("gtube.eml", &message("x@stranger.test", "explain-gtube@test", GTUBE));
    let (code, out, _) = run(args("127.0.0.30", "x@stranger.test", &gtube, true));
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let copy = &v["data"]["copies"][0];
    assert_eq!((copy["disposition"]["action"].as_str(), copy["scl"].as_i64()), (Some("quarantine"), Some(9)), "{copy}");
    assert_eq!(
        (copy["scl_source"].as_str(), copy["spam"]["action"].as_str()),
        (Some("spam_filter"), Some("reject")),
        "{copy}"
    );

    let gateway = write("gateway.eml", &message("x@stranger.test", "explain-gateway@test", GTUBE));
    let (_, out, _) = run(args("127.0.0.20", "x@stranger.test", &gateway, true));
    let v: Value = serde_json::from_str(&out).unwrap();
    let copy = &v["data"]["copies"][0];
    assert_eq!(copy["filtering"], json!({"authenticated": false, "spam_filtered": false}), "{copy}");
    assert_eq!(copy["exemption"]["by"], "scl_minus_one", "{copy}");
    assert_eq!(copy["disposition"]["action"], "deliver", "{copy}");
    let log = rspamd.log();
    assert!(log.contains("explain-gtube@test") && !log.contains("explain-gateway@test"), "{log}");
}

/// Behind a gateway with enhanced filtering whose `Received` chain cannot be followed (the
/// gateway wrote no field), a trusted ARC sealer's record of the client is who SPF and DMARC
/// judge; an untrusted sealer's record is ignored, and the gateway is judged.
#[test]
fn a_trusted_arc_sealer_names_the_original_client_when_the_received_chain_is_missing() {
    let dir = test_dir("filter-arc-ef-dns");
    let world = World::start(&dir);
    let original = world.signed(&message("news@sender.test", "arc-ef@test", "Hello list"));
    let sealed = world.forwarded_by_the_list(&original, Some("127.0.0.10"));
    let ef = "enhanced_filtering = { skip_last_ip = true }";

    let untrusted = Edge::start("filter-arc-ef-untrusted", &world.server_keys(""), &contoso(ef, ""));
    let refused = send(&untrusted, "127.0.0.20", "mx.gateway.test", "news@sender.test", &sealed);
    assert_eq!(code(&refused), 550, "the gateway was judged: {refused}");
    drop(untrusted);

    let edge = Edge::start(
        "filter-arc-ef-trusted",
        &world.server_keys(""),
        &contoso(ef, "trusted_arc_sealers = [\"lists.test\"]"),
    );
    assert_eq!(code(&send(&edge, "127.0.0.20", "mx.gateway.test", "news@sender.test", &sealed)), 250);
    let ar = one_line(&delivered(&edge, "", "arc-ef@test")["ar"][0]);
    assert!(ar.contains("spf=pass smtp.mailfrom=news@sender.test (client-ip=127.0.0.10)"), "{ar}");
    assert!(ar.ends_with("compauth=pass reason=100"), "SPF at the original client carries DMARC: {ar}");
    let r = edge.wait_tracking(|l| l["event"] == "receive");
    assert_eq!(r["original_client_ip"], "127.0.0.10", "{r}");
}

/// Mail through an on-premises connector is the organisation's own: like SCL -1, it is
/// neither scanned nor authenticated.
#[test]
fn mail_through_an_on_premises_connector_is_never_scanned() {
    let dir = test_dir("filter-onprem-rspamd");
    let rspamd = Rspamd::start(&dir);
    let filter = format!("{DELIVER}[server.spam_filter]\naddress = \"unix:{}\"\n", rspamd.socket.display());
    let onprem = r#"
[[tenants.inbound_connectors]]
name = "Our Exchange server"
type = "on_premises"
sender_domains = ["contoso.test"]
sender_ip_addresses = ["127.0.0.50"]
"#;
    let edge = Edge::start("filter-onprem", &filter, &format!("{}{onprem}", contoso("", "")));
    let own = message("it@contoso.test", "onprem-gtube@test", GTUBE);
    assert_eq!(code(&send(&edge, "127.0.0.50", "exchange.contoso.test", "it@contoso.test", &own)), 250);
    let inbox = delivered(&edge, "", "onprem-gtube@test");
    assert_eq!(inbox["spam"], Value::Null, "{inbox}");
    let r = edge.wait_tracking(|l| l["event"] == "receive");
    assert_eq!((r["connector"].as_str(), r.get("spam_score")), (Some("Our Exchange server"), None), "{r}");
    assert!(!rspamd.log().contains("onprem-gtube@test"), "rspamd scanned on-premises mail:\n{}", rspamd.log());
}

/// A sender that stalls its own DNS (a slow SPF record for its MAIL FROM domain) loses its
/// SPF result, not the DMARC verdict on the `From:` domain it forges: each step has its own
/// deadline, so sender.test's `p=reject` is still applied.
#[test]
fn a_sender_that_stalls_its_own_dns_cannot_escape_dmarc() {
    let records = json!({
        "_dmarc.sender.test": ["v=DMARC1; p=reject"],
        "sender.test": ["v=spf1 ip4:127.0.0.10 -all"],
        "attacker.slow.test": ["v=spf1 +all"],
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/slow_dns.py");
    let mut dns = std::process::Command::new("python3")
        .arg(script)
        .args([records.to_string().as_str(), "slow.test", "30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(dns.stdout.take().unwrap()), &mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    let keys = format!(
        "{DELIVER}[server.authentication]\nenabled = true\n\n[server.dns]\nservers = [\"127.0.0.1:{port}\"]\ntimeout = \"1s\"\n"
    );
    let edge = Edge::start("filter-slow", &keys, &contoso("", ""));
    let spoof = message("ceo@sender.test", "slow@test", "Please pay this invoice.");
    let started = std::time::Instant::now();
    let refused = send(&edge, "127.0.0.30", "mx.slow.test", "attacker@attacker.slow.test", &spoof);
    let took = started.elapsed();
    let _ = dns.kill();
    let _ = dns.wait();
    assert_eq!(code(&refused), 550, "{refused}");
    assert!(text(&refused).contains("5.7.509"), "{refused}");
    let r = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "data");
    assert_eq!(r["dmarc"], "fail p=reject", "{r}");
    assert!(took < Duration::from_secs(25), "the stalled lookups were cut at their step's deadline: {took:?}");
}
