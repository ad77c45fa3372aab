//! `doorman-afl TARGET`: one fuzz target under AFL++ (persistent mode). The target's
//! contract panics when broken, which AFL++ records as a crash.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = doorman_fuzz::target(&name) else {
        let names: Vec<&str> = doorman_fuzz::TARGETS.iter().map(|t| t.name).collect();
        eprintln!("doorman-afl: no target {name:?}; the targets are {}", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| (target.check)(data));
}
