//! `cfn-lint` passes on the template and fails on a broken copy.

use std::path::PathBuf;
use std::process::Command;

use integration_tests::repo_root;

use crate::read;

fn cfn_lint() -> PathBuf {
    let bin = repo_root().join(".venv/bin/cfn-lint");
    assert!(
        bin.exists(),
        "cfn-lint is not installed at {}: run `make venv` (requirements-dev.txt pins it). \
         This test never skips.",
        bin.display()
    );
    bin
}

#[test]
fn cfn_lint_passes() {
    let out = Command::new(cfn_lint())
        .arg("template.yaml")
        .current_dir(repo_root())
        .output()
        .expect("cannot run cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint template.yaml failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// cfn-lint really reads the template: a broken copy fails.
#[test]
fn cfn_lint_rejects_a_broken_template() {
    let text = read(&repo_root().join("template.yaml"));
    let broken = text.replacen(
        "BillingMode: PAY_PER_REQUEST",
        "BillingMode: PAY_AS_YOU_GO",
        1,
    );
    assert_ne!(broken, text);
    let dir = std::env::temp_dir().join(format!("cfn-lint-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = Command::new(cfn_lint())
        .arg(&path)
        .output()
        .expect("cannot run cfn-lint");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !out.status.success(),
        "cfn-lint accepted an invalid BillingMode"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PAY_AS_YOU_GO"));
}
