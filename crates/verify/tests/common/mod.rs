#![allow(dead_code)]
use std::path::PathBuf;

/// The repository root, where `vectors/` and `samples/` live. Panics with a clear
/// message when the vectors are missing: these tests must never pass vacuously.
pub fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        dir.join("vectors/signatures.json").is_file(),
        "test data not found at {} (vectors/ and samples/ are tracked in git)",
        dir.display()
    );
    dir
}

/// The bytes of `rel` under [`data_dir`].
pub fn read_data(rel: &str) -> Vec<u8> {
    let path = data_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
