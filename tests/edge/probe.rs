//! `doorman probe`'s DNS side against a real DNS server (dnsmasq) on loopback: the seed's
//! domain, whose MX names its gateway while its Exchange Online host answers too, beside a
//! domain with no cloud tenant.

use std::time::Duration;

use doorman_probe::signals::{SignalKind, discover};

use crate::support::{Dns, test_dir};

#[test]
fn a_cloud_tenant_behind_a_gateway_mx_is_found_by_its_dns_signs() {
    let dir = test_dir("probe-dns");
    let records = [
        "--local=/test/",
        "--local=/outlook.com/",
        "--local=/onmicrosoft.com/",
        "--mx-host=contoso.test,mx1.gateway.test,10",
        "--host-record=mx1.gateway.test,127.0.0.5",
        "--host-record=contoso-test.mail.protection.outlook.com,127.0.0.7",
        "--txt-record=contoso.test,MS=ms51234567",
        "--txt-record=contoso.test,v=spf1 ip4:127.0.0.5 include:spf.protection.outlook.com -all",
        "--host-record=autodiscover.outlook.com,127.0.0.8",
        "--cname=autodiscover.contoso.test,autodiscover.outlook.com",
        "--host-record=selector1-contoso-test._domainkey.contoso.onmicrosoft.com,127.0.0.8",
        "--cname=selector1._domainkey.contoso.test,selector1-contoso-test._domainkey.contoso.onmicrosoft.com",
        "--mx-host=fabrikam.test,mx.fabrikam.test,10",
        "--host-record=mx.fabrikam.test,127.0.0.6",
        "--mx-host=cloud.test,cloud-test.mail.protection.outlook.com,0",
        "--host-record=cloud-test.mail.protection.outlook.com,127.0.0.7",
    ];
    let dns = Dns::start_with(&dir, &records.map(String::from));
    let config = doorman_config::Dns {
        servers: vec![format!("127.0.0.1:{}", dns.port).parse().unwrap()],
        timeout: doorman_config::Seconds(Duration::from_secs(5)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let resolver = doorman_dns::resolver(&config).unwrap();
    let timeout = Duration::from_secs(5);

    let contoso = runtime.block_on(discover(&resolver, "contoso.test", timeout));
    assert!(contoso.failures.is_empty(), "{:?}", contoso.failures);
    assert_eq!(contoso.mx.len(), 1);
    assert_eq!((contoso.mx[0].host.as_str(), contoso.mx[0].provider), ("mx1.gateway.test", None));
    let kinds: Vec<(SignalKind, &str)> = contoso.signals.iter().map(|s| (s.kind, s.provider)).collect();
    for kind in [SignalKind::Verification, SignalKind::SpfInclude, SignalKind::Cname, SignalKind::TenantHost] {
        assert!(kinds.contains(&(kind, "Exchange Online")), "{kind:?} missing from {kinds:?}");
    }
    assert_eq!(contoso.microsoft_tenant().as_deref(), Some("contoso.onmicrosoft.com"));
    let doors: Vec<_> = contoso.side_door_candidates().collect();
    assert_eq!(doors.len(), 1, "{:?}", contoso.tenant_hosts);
    assert_eq!(doors[0].host, "contoso-test.mail.protection.outlook.com");
    assert_eq!(doors[0].addresses, ["127.0.0.7".parse::<std::net::IpAddr>().unwrap()]);

    // No cloud signs: nothing to probe.
    let fabrikam = runtime.block_on(discover(&resolver, "fabrikam.test", timeout));
    assert!(fabrikam.failures.is_empty() && fabrikam.signals.is_empty(), "{fabrikam:?}");
    assert_eq!(fabrikam.side_door_candidates().count(), 0);

    // The MX names the tenant host itself: that is the front door, not a side door.
    let cloud = runtime.block_on(discover(&resolver, "cloud.test", timeout));
    assert_eq!(cloud.tenant_hosts.len(), 1, "{cloud:?}");
    assert!(cloud.tenant_hosts[0].named_by_mx);
    assert_eq!(cloud.side_door_candidates().count(), 0);
}
