//! The mail-flow picture tells the truth: mail runs internet → gateway → edge → mailboxes, and
//! every side door is a red arrow into the edge, one per way in, never around it.

use std::path::Path;

use doorman_audit::Audit;
use doorman_audit::render::picture::{PER_TENANT_UP_TO, picture};
use doorman_audit::render::{dot, svg};
use doorman_policy::Policy;

fn audit(toml: &str) -> Audit {
    let loaded = doorman_config::load_str("picture.toml", toml, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    doorman_audit::audit(&Policy::new(loaded.config)).expect("the audit runs")
}

const SIDE_DOORS: &str = include_str!("../../../examples/side-doors.toml");

/// A path drawn: its colour, its width and its points.
type Drawn = (String, u32, Vec<(i64, i64)>);

/// Every path drawn.
fn paths(svg: &str) -> Vec<Drawn> {
    let attr = |line: &str, name: &str| {
        let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(line[start..start + line[start..].find('"')?].to_string())
    };
    svg.lines()
        .filter(|l| l.starts_with("<path "))
        .map(|l| {
            let points = attr(l, "d")
                .unwrap()
                .split(' ')
                .map(|p| {
                    let (x, y) = p.trim_start_matches(['M', 'L']).split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            (attr(l, "stroke").unwrap(), attr(l, "stroke-width").unwrap().parse().unwrap(), points)
        })
        .collect()
}

/// The `<rect>` of the box whose first line is `label`, as (left, top, right, bottom).
fn boxes(svg: &str, label: &str) -> Vec<(i64, i64, i64, i64)> {
    let lines: Vec<&str> = svg.lines().collect();
    let num = |l: &str, name: &str| -> i64 {
        let start = l.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        l[start..start + l[start..].find('"').unwrap()].parse().unwrap()
    };
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("<rect x=") && w[1].ends_with(&format!(">{label}</text>")))
        .map(|w| {
            let (x, y) = (num(w[0], "x"), num(w[0], "y"));
            (x, y, x + num(w[0], "width"), y + num(w[0], "height"))
        })
        .collect()
}

#[test]
fn side_doors_are_red_arrows_into_the_edge_one_per_way_in() {
    let a = audit(SIDE_DOORS);
    let svg = svg::svg(&a);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.contains("<title>Mail flow of 3 tenants</title>"), "a title");
    for legend in [
        "Legend",
        "front door: mail that came through the gateway the MX names",
        "side door: mail the edge accepts from a client that is not the gateway",
        "side door through which spam filtering is skipped too (SCL -1)",
    ] {
        assert!(svg.contains(&format!(">{legend}</text>")), "legend {legend:?}");
    }
    let edges = boxes(&svg, "doorman edge");
    assert_eq!(edges.len(), 3, "an edge per tenant");
    let red: Vec<_> = paths(&svg).into_iter().filter(|(c, ..)| c == "#c62828").collect();
    // Three ways in: contoso without a connector; northwind through its unrestricted
    // connector, once with SCL -1 (drawn bold) and once without. Three more in the legend.
    let doors: Vec<_> = red.iter().filter(|(_, _, p)| p.len() > 2).collect();
    assert_eq!(doors.len(), 3, "{red:?}");
    assert_eq!(doors.iter().filter(|(_, w, _)| *w == 4).count(), 1, "the SCL -1 door is bold");
    let internets = boxes(&svg, "Internet");
    for (_, _, points) in &doors {
        // It leaves the internet's box, runs below the gateway, and ends at the edge's box.
        let (start, end) = (points[0], *points.last().unwrap());
        let internet = internets.iter().find(|b| b.0 <= start.0 && start.0 <= b.2 && start.1 == b.3);
        assert!(internet.is_some(), "starts at an internet box: {points:?}");
        let edge = edges.iter().find(|b| b.0 <= end.0 && end.0 <= b.2 && end.1 > b.3 && end.1 - b.3 < 20);
        assert!(edge.is_some(), "ends just below an edge box, where its head points up into it: {points:?}");
        assert!(points.iter().all(|p| p.1 >= internet.unwrap().3), "never crosses the row of boxes: {points:?}");
    }
    // The labels say which way in, from where, to which domains.
    assert!(svg.contains(">SIDE DOOR without a connector</text>"), "{svg}");
    assert!(svg.contains(">from all IPv4 except 80.66.20.0/28; all IPv6</text>"), "{svg}");
    assert!(
        svg.contains(">SIDE DOOR through connector &quot;From the filter&quot;, SCL -1: spam filtering skipped</text>"),
        "{svg}"
    );

    let dot = dot::dot(&a);
    assert!(dot.starts_with("digraph mailflow {\n  label=\"Mail flow of 3 tenants\";"), "{dot}");
    assert_eq!(dot.matches("internet -> edge_").count(), 4, "three side doors and fabrikam's MX: {dot}");
    let red = dot.lines().filter(|l| l.starts_with("  internet -> edge_") && l.contains("[color=red")).count();
    assert_eq!(red, 3, "{dot}");
    assert!(dot.contains("internet -> edge_0 [color=red, fontcolor=red, penwidth=1, label=\"SIDE DOOR without a connector\\nfrom all IPv4 except 80.66.20.0/28; all IPv6\\nto contoso.com\"];"), "{dot}");
    assert!(dot.contains("subgraph cluster_legend"), "{dot}");
}

#[test]
fn past_the_threshold_the_picture_sums_the_tenants_up() {
    let mut toml = String::new();
    for i in 0..=PER_TENANT_UP_TO {
        let gateway =
            if i % 2 == 0 { r#"[{ host = "mx.gw.example", addresses = ["192.0.2.0/28"] }]"# } else { r#"["self"]"# };
        toml.push_str(&format!(
            "[[tenants]]\nname = \"t{i}\"\nmx = {gateway}\nreject_direct_send = true\nrecipients = [\"a@t{i}.example\"]\naccepted_domains = [{{ domain = \"t{i}.example\" }}]\n"
        ));
    }
    let a = audit(&toml);
    let p = picture(&a);
    assert_eq!(p.panels.len(), 1, "one summary");
    let n = PER_TENANT_UP_TO + 1;
    let behind = n.div_ceil(2);
    let s = &p.panels[0];
    assert_eq!(s.title, format!("{n} tenants: {} LOCKED, {behind} SIDE DOOR OPEN", n - behind));
    assert_eq!(s.gateway.as_deref(), Some(&["gateways".to_string(), format!("the MX of {behind} tenants")][..]));
    assert_eq!(s.mx_is_edge.as_deref(), Some(format!("MX: doorman itself ({} tenants)", n - behind).as_str()));
    assert_eq!(s.side_doors.len(), 1, "{:?}", s.side_doors);
    assert_eq!(
        s.side_doors[0].lines,
        [
            "SIDE DOOR without a connector".to_string(),
            format!("at {behind} tenants: t0, t2, t4, t6 and {} more", behind - 4)
        ]
    );
    assert!(p.note.as_deref().unwrap().contains("--tenant NAME"), "{:?}", p.note);
    let svg = svg::svg(&a);
    assert_eq!(boxes(&svg, "doorman edge").len(), 1, "{svg}");
    // The tenants whose MX is the edge: an arrow over the gateway, never through it.
    let gateway = boxes(&svg, "gateways")[0];
    let (internet, edge) = (boxes(&svg, "Internet")[0], boxes(&svg, "doorman edge")[0]);
    let over: Vec<_> = paths(&svg).into_iter().filter(|(c, _, p)| c == "#222222" && p.len() == 4).collect();
    assert_eq!(over.len(), 1, "{svg}");
    let points = &over[0].2;
    assert_eq!(points[0].1, internet.1, "out of the internet's top: {points:?}");
    assert!(points[1].1 < gateway.1 && points[2].1 < gateway.1, "above the gateway: {points:?} {gateway:?}");
    let end = points[3];
    assert!(
        edge.0 <= end.0 && end.0 <= edge.2 && end.1 < edge.1 && edge.1 - end.1 < 20,
        "into the edge's top: {points:?}"
    );
}
