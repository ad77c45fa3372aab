//! A cluster node's file and the policy published to it: one schema, one loader, one set of
//! checks, each message naming the part at fault.

use std::path::Path;

use doorman_config::{PolicyDocument, load_document, load_node, load_policy, load_str};

const NODE: &str = "[server]\nhostname = \"edge1.example.net\"\n\n[cluster]\nurl = \"nats://127.0.0.1:4222\"\n";

const POLICY: &str = r#"[[tenants]]
name = "contoso"
mx = ["self"]
recipients_file = "users.txt"
routing = { type = "maildir", path = "mail" }
[[tenants.accepted_domains]]
domain = "contoso.com"
"#;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("doorman-config-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_node_file_holds_server_and_cluster_and_no_tenants() {
    let loaded = load_str("node.toml", NODE, Path::new(".")).unwrap();
    assert!(loaded.warnings.is_empty(), "no 'no tenants' warning on a node: {:?}", loaded.warnings);
    assert_eq!(loaded.config.cluster.as_ref().unwrap().node("edge1.example.net"), "edge1");
    let with_tenants = format!("{NODE}{POLICY}");
    let errors = load_str("node.toml", &with_tenants, Path::new(".")).unwrap_err().to_string();
    assert!(
        errors.starts_with("node.toml:6:1: tenants: with [cluster], the tenants come from the cluster's policy"),
        "{errors}"
    );
    let bad_name = format!("{NODE}node_name = \"edge 1.x\"\nbucket = \"\"\n");
    let errors = load_str("node.toml", &bad_name, Path::new(".")).unwrap_err().to_string();
    assert!(
        errors.contains("node.toml:6:13: cluster.node_name: \"edge 1.x\": use letters, digits, - and _ only"),
        "{errors}"
    );
    assert!(errors.contains("cluster.bucket: \"\": use letters"), "{errors}");
}

#[test]
fn a_policy_is_checked_as_a_file_and_carries_the_files_it_names() {
    let d = dir("policy");
    std::fs::write(d.join("users.txt"), "alice@contoso.com\n").unwrap();
    let (loaded, document) = load_policy("policy.toml", POLICY, &d).unwrap();
    assert_eq!(loaded.config.tenants[0].directory().count(), 1);
    assert_eq!(document.files.get("users.txt").map(String::as_str), Some("alice@contoso.com\n"));
    assert_eq!(PolicyDocument::from_json(&document.to_json()).unwrap(), document);

    let errors = load_policy("policy.toml", "[server]\nhostname = \"x\"\n[cluster]\nurl = \"n\"\n", &d).unwrap_err();
    let errors: Vec<String> = errors.errors().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        [
            "policy.toml:1:1: server: a published policy holds tenants only; [server] belongs in each node's own file",
            "policy.toml:3:1: cluster: a published policy holds tenants only; [cluster] belongs in each node's own file",
        ]
    );
    let twice = format!("{POLICY}{}", POLICY.replace("\"contoso\"\nmx", "\"other\"\nmx"));
    let errors = load_policy("policy.toml", &twice, &d).unwrap_err().to_string();
    assert!(
        errors.contains(
            "policy.toml:14:10: tenants[1].accepted_domains[0].domain: contoso.com is already an accepted domain"
        ),
        "{errors}"
    );
}

#[test]
fn a_node_loads_its_file_with_the_published_policy_and_each_error_names_its_part() {
    let d = dir("node");
    std::fs::write(d.join("users.txt"), "alice@contoso.com\nbob@contoso.com\n").unwrap();
    let (_, document) = load_policy("policy.toml", POLICY, &d).unwrap();
    // The node reads the directory from the document, not from a disk it does not share.
    let loaded = load_node("node.toml", NODE, "cluster policy revision 4 (policy.toml)", &document).unwrap();
    assert_eq!(loaded.config.server.hostname, "edge1.example.net");
    assert_eq!(loaded.config.tenants[0].directory().count(), 2);
    assert_eq!(load_document("revision 4", &document).unwrap().config.tenants.len(), 1);

    let mut bad = document.clone();
    bad.policy = bad.policy.replace("domain = \"contoso.com\"", "domain = \"contoso com\"");
    let errors = load_node("node.toml", NODE, "cluster policy revision 5 (policy.toml)", &bad).unwrap_err().to_string();
    assert!(
        errors.starts_with("cluster policy revision 5 (policy.toml):7:10: tenants[0].accepted_domains[0].domain"),
        "{errors}"
    );
    let node_error =
        NODE.replace("hostname = \"edge1.example.net\"", "hostname = \"edge1\"\nlimits = { max_recipients = 0 }");
    let errors = load_node("node.toml", &node_error, "revision 4", &document).unwrap_err().to_string();
    assert!(errors.starts_with("node.toml:3:"), "{errors}");
    assert!(errors.contains("server.limits.max_recipients: must be at least 1"), "{errors}");
    let mut missing = document;
    missing.files.clear();
    let errors = load_node("node.toml", NODE, "revision 6", &missing).unwrap_err().to_string();
    assert!(
        errors.contains("tenants[0].recipients_file: cannot read users.txt: the published policy does not hold it"),
        "{errors}"
    );
    let errors = load_node("node.toml", "[server]\n", "revision 6", &missing).unwrap_err().to_string();
    assert!(errors.contains("cluster: no [cluster] section"), "{errors}");
}
