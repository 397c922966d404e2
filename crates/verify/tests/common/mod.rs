#![allow(dead_code)]
use std::path::PathBuf;

/// `../shared` beside the repository (or `CONTRACT_HOOKS_SHARED`). Panics with a
/// clear message when it is missing: these tests must never pass vacuously.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("CONTRACT_HOOKS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("vectors/signatures.json").is_file(),
        "shared test data not found at {} (set CONTRACT_HOOKS_SHARED to the folder holding vectors/ and samples/)",
        dir.display()
    );
    dir
}

pub fn read_shared(rel: &str) -> Vec<u8> {
    let path = shared_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
