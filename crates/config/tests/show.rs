//! `doorman config show` writes back what was read: its output loads to the same config,
//! with or without the defaults, for configs drawn over the whole schema.

use std::path::Path;

use doorman_config::{load_str, show};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Every setting of `text`, as `config show --defaults` prints it.
fn full(name: &str, text: &str) -> Result<String, String> {
    let loaded = load_str(name, text, Path::new(".")).map_err(|d| format!("{name} does not load: {d}\n{text}"))?;
    show(&loaded.config, text, true, "t").map_err(|e| e.to_string())
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
        let text = c.toml();
        let loaded = load_str("drawn.toml", &text, Path::new(".")).map_err(|d| TestCaseError::fail(d.to_string()))?;
        let every = show(&loaded.config, &text, true, "t").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let set = show(&loaded.config, &text, false, "t").map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Written back with every default, it reads as the same config ...
        let again = full("every.toml", &every).map_err(TestCaseError::fail)?;
        if again != every {
            return Err(TestCaseError::fail(format!("--defaults does not load back the same:\n{every}\n---\n{again}")));
        }
        // ... and with the defaults left out, nothing else is lost.
        let from_set = full("set.toml", &set).map_err(TestCaseError::fail)?;
        if from_set != every {
            return Err(TestCaseError::fail(format!(
                "without defaults, a setting is lost:\n{set}\n---\n{every}\n---\n{from_set}"
            )));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
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
