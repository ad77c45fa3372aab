//! Addresses: whatever the parser accepts, it prints back to the same value, with or without
//! angle brackets, as a forward path or a reverse path.

use doorman_config::address::{Domain, parse_domain, parse_mailbox, parse_reverse_path};

pub fn check(input: &[u8]) {
    let Ok(s) = std::str::from_utf8(input) else { return };
    if let Ok(m) = parse_mailbox(s) {
        let printed = m.to_string();
        assert_eq!(parse_mailbox(&printed).as_ref(), Ok(&m), "{s:?} printed as {printed:?}");
        assert_eq!(parse_mailbox(&format!("<{printed}>")).as_ref(), Ok(&m), "<{printed}>");
        assert_eq!(parse_mailbox(&printed).map(|x| x.to_string()), Ok(printed.clone()));
    }
    if let Ok(r) = parse_reverse_path(s) {
        let printed = r.to_string();
        assert_eq!(parse_reverse_path(&printed).as_ref(), Ok(&r), "{s:?} printed as {printed:?}");
    }
    if let Ok(d) = parse_domain(s) {
        let printed = match &d {
            Domain::Name(n) => n.clone(),
            Domain::Literal(std::net::IpAddr::V4(a)) => format!("[{a}]"),
            Domain::Literal(std::net::IpAddr::V6(a)) => format!("[IPv6:{a}]"),
        };
        assert_eq!(parse_domain(&printed).as_ref(), Ok(&d), "{s:?} printed as {printed:?}");
    }
}
