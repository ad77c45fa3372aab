//! Integration tests of `doorman serve` with real clients, real TLS and real DNS on loopback.
//! Linux routes all of 127.0.0.0/8 to lo: 127.0.0.2 plays the gateway, 127.0.0.3 a stranger,
//! 127.0.0.9 a trusted load balancer that sends PROXY headers.

mod support;

mod audit;
mod certificates;
mod cluster;
mod deadlines;
mod delivery;
mod exo;
mod filtering;
mod framing;
mod lifecycle;
mod metrics;
mod probe;
mod proxy;
mod queue;
mod reload;
mod replies;

/// The field report's set-up on loopback addresses.
pub const TENANTS: &str = r#"
[[tenants]]
name = "contoso"
mx = ["mx.contoso-gateway.test"]
reject_direct_send = true
recipients = ["alice@contoso.com", "bob@contoso.com"]

[[tenants.accepted_domains]]
domain = "contoso.com"
type = "authoritative"

[[tenants.inbound_connectors]]
name = "Inbound only from Antispamrelay"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["127.0.0.2", "80.66.20.0/28"]
restrict_domains_to_ip_addresses = true
require_tls = true

[tenants.connection_filter]
ip_block_list = ["127.0.0.4", "198.51.100.66"]

[[tenants.transport_rules]]
name = "Skip spam filtering for the gateway"
[tenants.transport_rules.conditions]
inbound_connector = ["Inbound only from Antispamrelay"]
[tenants.transport_rules.actions]
set_scl = -1

[[tenants]]
name = "fabrikam"
mx = ["self"]
reject_direct_send = true
recipients = ["carol@fabrikam.com", "dave@fabrikam.com"]

[[tenants.accepted_domains]]
domain = "fabrikam.com"
type = "authoritative"
"#;

pub const MESSAGE: &str =
    "From: Sender <sender@example.net>\r\nTo: carol@fabrikam.com\r\nSubject: Hello\r\n\r\nHello from the test.\r\n";
