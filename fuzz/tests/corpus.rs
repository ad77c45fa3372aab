//! Every saved input of every target, replayed against its contract: the seed corpus in
//! `fuzz/corpus/TARGET/` and each crash a fuzzer found, kept in `fuzz/regressions/TARGET/`.
//! This is what CI runs of the fuzzing; `scripts/fuzz.sh` runs the fuzzer itself.

use std::path::Path;

use doorman_fuzz::TARGETS;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
    let mut n = 0;
    for t in TARGETS {
        for (name, bytes) in inputs(&root.join(t.name)) {
            let run = std::panic::catch_unwind(|| (t.check)(&bytes));
            assert!(run.is_ok(), "{kind}/{}/{name} breaks the contract", t.name);
            n += 1;
        }
    }
    n
}

#[test]
fn every_target_has_a_seed_corpus_and_keeps_its_contract_on_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for t in TARGETS {
        assert!(!inputs(&root.join(t.name)).is_empty(), "fuzz/corpus/{} is empty", t.name);
    }
    assert!(replay("corpus") >= TARGETS.len());
}

#[test]
fn every_crash_found_stays_fixed() {
    replay("regressions");
}

#[test]
fn every_folder_names_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(dirs) = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(kind)) else { continue };
        for d in dirs.filter_map(Result::ok) {
            let name = d.file_name().to_string_lossy().into_owned();
            assert!(doorman_fuzz::target(&name).is_some(), "fuzz/{kind}/{name} is no target");
        }
    }
}
