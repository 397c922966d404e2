//! The functions' environments against what their code reads, and the webhook secret.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::cfn::{at, show, template};
use integration_tests::repo_root;
use verify::Provider;

use crate::{
    direct_env_reads, env_of, number, parameter_default, props, quoted_env_names, read,
    without_tests, INGEST, PROCESSOR,
};

/// Every variable `store::Config` reads (from the source, so a new setting
/// cannot be missed), cross-checked against names known to be there.
fn config_env_names() -> BTreeSet<String> {
    let text = read(&repo_root().join("crates/store/src/config.rs"));
    let names = quoted_env_names(without_tests(&text));
    for known in [
        "EVENTS_TABLE",
        "STATUS_TABLE",
        "QUEUE_URL",
        "WEBHOOK_SECRETS",
        "WEBHOOK_SECRETS_ARN",
        "MAX_BODY_BYTES",
        "SIGNATURE_TOLERANCE_SECONDS",
        "EVENT_RETENTION_DAYS",
    ] {
        assert!(
            names.contains(known),
            "reading config.rs found {names:?}, without {known}: has the file changed shape?"
        );
    }
    names
}

/// Only the ingest function uses these (secrets, the HTTP edge's limits).
const INGEST_ONLY: [&str; 5] = [
    "WEBHOOK_SECRETS",
    "WEBHOOK_SECRETS_ARN",
    "MAX_BODY_BYTES",
    "SIGNATURE_TOLERANCE_SECONDS",
    "SECRETS_REFRESH_SECONDS",
];

fn needed_by(function: &str, name: &str) -> bool {
    let ingest_only = INGEST_ONLY.contains(&name);
    let processor_only = name.starts_with("SWEEP_") || name == "EVENT_BUS_NAME";
    match function {
        INGEST => !processor_only,
        _ => !ingest_only,
    }
}

#[test]
fn every_setting_config_reads_is_set_on_the_function_that_needs_it() {
    let t = template();
    let config_names = config_env_names();
    for (function, krate) in [(INGEST, "ingest"), (PROCESSOR, "processor")] {
        let env = env_of(&t, function);
        let declared: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        let mut required: BTreeSet<String> = config_names
            .iter()
            .filter(|n| needed_by(function, n))
            .cloned()
            .collect();
        required.extend(direct_env_reads(krate));
        required.extend(direct_env_reads("store"));
        required.insert("RUST_LOG".into());
        let missing: Vec<_> = required
            .iter()
            .filter(|n| !declared.contains(n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{function} lacks {missing:?} (it has {declared:?})"
        );
        let unexpected: Vec<_> = declared
            .iter()
            .filter(|n| !required.contains(**n))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{function} sets {unexpected:?}, which its code does not read (a typo, or a \
             setting meant for the other function)"
        );

        assert_eq!(env["EVENTS_TABLE"], "Ref(EventsTable)", "{function}");
        assert_eq!(env["STATUS_TABLE"], "Ref(StatusTable)", "{function}");
        assert_eq!(env["QUEUE_URL"], "Ref(EventQueue)", "{function}");
    }
    let ingest = env_of(&t, INGEST);
    assert_eq!(ingest["WEBHOOK_SECRETS_ARN"], "Ref(WebhookSecrets)");
    assert_eq!(
        ingest["WEBHOOK_SECRETS"], "",
        "secrets never go into the template: WEBHOOK_SECRETS is declared empty (for sam \
         local's env.json) and the deployed function reads WEBHOOK_SECRETS_ARN"
    );
}

/// With every parameter at its default, each function's environment is a
/// valid `Config` equal to Config's own defaults.
#[test]
fn template_defaults_are_configs_defaults() {
    let t = template();
    let base = |k: &str| match k {
        "EVENTS_TABLE" | "STATUS_TABLE" => Some("table".to_owned()),
        "QUEUE_URL" => Some("https://sqs.invalid/1/q".to_owned()),
        _ => None,
    };
    let defaults = store::Config::from_lookup(base).unwrap();
    for function in [INGEST, PROCESSOR] {
        let env: BTreeMap<String, String> = env_of(&t, function)
            .into_iter()
            .map(|(k, v)| {
                let resolved = match v.strip_prefix("Ref(").and_then(|r| r.strip_suffix(')')) {
                    Some(p) if t.get("Parameters").and_then(|ps| ps.get(p)).is_some() => {
                        parameter_default(&t, p)
                    }
                    Some(_) => base(&k).unwrap_or_else(|| "arn:aws:secretsmanager:x".into()),
                    None => v,
                };
                (k, resolved)
            })
            .collect();
        let c = store::Config::from_lookup(|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{function}'s environment is not a valid Config: {e}"));
        let pairs = [
            (
                "MAX_BODY_BYTES",
                c.max_body_bytes as i64,
                defaults.max_body_bytes as i64,
            ),
            (
                "SIGNATURE_TOLERANCE_SECONDS",
                c.tolerance_ms as i64,
                defaults.tolerance_ms as i64,
            ),
            (
                "EVENT_RETENTION_DAYS",
                c.retention_days.into(),
                defaults.retention_days.into(),
            ),
            ("LEDGER_LEASE_SECONDS", c.lease_ms, defaults.lease_ms),
            (
                "SECRETS_REFRESH_SECONDS",
                c.secrets_refresh.as_secs() as i64,
                defaults.secrets_refresh.as_secs() as i64,
            ),
            (
                "SWEEP_AFTER_SECONDS",
                c.sweep_after_ms,
                defaults.sweep_after_ms,
            ),
            (
                "SWEEP_MAX_ATTEMPTS",
                c.sweep_max_attempts.into(),
                defaults.sweep_max_attempts.into(),
            ),
        ];
        for (name, got, want) in pairs {
            if env.contains_key(name) {
                assert_eq!(
                    got, want,
                    "{function}: {name} defaults differ from Config's"
                );
            }
        }
        if function == INGEST {
            assert!(matches!(
                c.secrets,
                Some(store::SecretsSource::SecretsManager { .. })
            ));
        }
    }
    // The raw body is stored in the ledger item: a DynamoDB item is at most 400 KB.
    let max = number(
        at(&t, &["Parameters", "MaxBodyBytes", "MaxValue"]),
        "MaxValue",
    );
    assert!(
        max <= 350 * 1024,
        "MaxBodyBytes MaxValue {max} leaves no room in a 400 KB item"
    );
}

#[test]
fn the_secret_is_a_placeholder_the_ingest_function_refuses() {
    let t = template();
    let p = props(&t, "WebhookSecrets", "AWS::SecretsManager::Secret");
    let placeholder = show(at(p, &["SecretString"]));
    // Right shape, no keys: ingest fails at init until the operator puts real ones.
    let doc: BTreeMap<String, Vec<String>> = serde_json::from_str(&placeholder).unwrap();
    let providers: BTreeSet<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(
        providers,
        Provider::ALL.iter().map(|p| p.as_str()).collect()
    );
    assert!(matches!(
        store::parse_secrets(&placeholder, 300_000),
        Err(store::SecretsError::NoProviders)
    ));
    let description = show(at(p, &["Description"]));
    assert!(description.contains("put-secret-value"), "{description}");
}
