//! `doorman config show` writes back what was read: its output loads to the same config,
//! with or without the defaults, for configs drawn over the whole schema.

use std::path::Path;

use doorman_config::{load_str, show};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `text` loaded, as `{:?}` prints it: every field of the config, values as read.
fn read(name: &str, text: &str, base: &Path) -> Result<String, String> {
    let loaded = load_str(name, text, base).map_err(|d| format!("{name} does not load: {d}\n{text}"))?;
    Ok(format!("{:?}", loaded.config))
}

/// Both forms of `config show` load back to the config `text` loads to.
fn round_trip(name: &str, text: &str, base: &Path) -> Result<(), String> {
    let loaded = load_str(name, text, base).map_err(|d| format!("{name} does not load: {d}"))?;
    let original = format!("{:?}", loaded.config);
    for defaults in [true, false] {
        let shown = show(&loaded.config, text, defaults, "t").map_err(|e| e.to_string())?;
        let again = read("shown.toml", &shown, base)?;
        if again != original {
            return Err(format!(
                "{name}: config show (defaults {defaults}) does not load back the same config:\n{shown}\n--- read first:\n{original}\n--- read back:\n{again}"
            ));
        }
    }
    Ok(())
}

#[test]
fn what_config_show_prints_loads_back_to_the_same_config() {
    let cases = env("DOORMAN_SHOW_CASES", 200) as u32;
    let seed = env("DOORMAN_SHOW_SEED", 0x5_0e5);
    let config = Config {
        cases,
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&doorman_testgen::config(), |c| {
        round_trip("drawn.toml", &c.toml(), Path::new(".")).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The sections the drawn configs leave out (server, cluster, routing, recipients files,
/// anti-spam, DMARC, ARC, enhanced filtering), in the fixture and the examples.
#[test]
fn every_section_and_every_example_loads_back_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = [
        "crates/config/tests/fixtures/everything.toml",
        "examples/contoso.toml",
        "examples/side-doors.toml",
        "examples/cluster/node1.toml",
        "examples/cluster/policy.toml",
    ];
    for f in files {
        let path = root.join(f);
        let text = std::fs::read_to_string(&path).unwrap();
        round_trip(f, &text, path.parent().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    }
    // The fixture's directory file was read, and a node file shows without tenants.
    let fixture = root.join(files[0]);
    let loaded = load_str("f", &std::fs::read_to_string(&fixture).unwrap(), fixture.parent().unwrap()).unwrap();
    assert_eq!(loaded.config.tenants[0].recipients_from_file.len(), 2);
    let node = std::fs::read_to_string(root.join(files[3])).unwrap();
    let loaded = load_str("node1.toml", &node, Path::new(".")).unwrap();
    let every = show(&loaded.config, &node, true, "t").unwrap();
    assert!(every.contains("[cluster]") && !every.contains("tenants"), "{every}");
}

#[test]
fn config_show_keeps_what_the_file_sets_in_the_schemas_order() {
    let text = r#"
[[tenants]]
accepted_domains = [{ domain = "contoso.com" }]
name = "contoso"
mx = [{ host = "mx.gw.example", addresses = [{ ip = "192.0.2.0/28", name = "gw" }] }]
[tenants.connection_filter]
ip_block_list = ["198.51.100.0-198.51.100.20"]
[[tenants.transport_rules]]
name = "r"
[tenants.transport_rules.conditions]
sender_domain_is = ["x.example"]
[tenants.transport_rules.actions]
set_scl = 9
[server.limits]
command_timeout = 3600
"#;
    let loaded = load_str("c.toml", text, Path::new(".")).unwrap();
    let out = show(&loaded.config, text, false, "the settings c.toml makes").unwrap();
    assert_eq!(
        out,
        r#"# the settings c.toml makes

[server.limits]
command_timeout = "1h"

[[tenants]]
name = "contoso"

[[tenants.mx]]
host = "mx.gw.example"

[[tenants.mx.addresses]]
ip = "192.0.2.0/28"
name = "gw"

[[tenants.accepted_domains]]
domain = "contoso.com"

[tenants.connection_filter]
ip_block_list = ["198.51.100.0-198.51.100.20"]

[[tenants.transport_rules]]
name = "r"

[tenants.transport_rules.conditions]
sender_domain_is = ["x.example"]

[tenants.transport_rules.actions]
set_scl = 9
"#
    );
}
