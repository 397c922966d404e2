//! What every generated event shares: the public test secrets, the account and
//! resource names, the provider samples, the output set, and a clock that
//! makes ids and times deterministic.

use contract_hooks::error::CliError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use verify::Provider;

/// The public SpotDraft test key (base64) the events are signed with; the same
/// as the test harness's `SPOTDRAFT_KEY` and `vectors/signatures.json`.
pub const SPOTDRAFT_TEST_KEY: &str =
    "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";

/// The public Subnoto test secret; the harness's `SUBNOTO_SECRET`.
pub const SUBNOTO_TEST_SECRET: &str = "whsec_subnoto_public_test_secret_0001";

/// The public DocuSign Connect test key; the harness's `DOCUSIGN_KEY`.
pub const DOCUSIGN_TEST_KEY: &str = "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=";

/// A SpotDraft key the receiver does not have (base64 of "not-the-configured-spotdraft-key").
pub(super) const WRONG_SPOTDRAFT_KEY: &str = "bm90LXRoZS1jb25maWd1cmVkLXNwb3RkcmFmdC1rZXk=";

/// A Subnoto secret the receiver does not have.
pub(super) const WRONG_SUBNOTO_SECRET: &str = "whsec_not_the_configured_secret";

/// The subscription id Subnoto sends as `X-Webhook-Id`.
pub(super) const SUBNOTO_WEBHOOK_ID: &str = "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a";

pub(super) const ACCOUNT: &str = "123456789012";

pub(super) const REGION: &str = "us-east-1";

pub(super) const API_ID: &str = "abcdef1234";

pub(super) const SOURCE_IP: &str = "203.0.113.9";

pub(super) const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:contract-hooks-EventQueue";

pub(super) const SWEEP_RULE_ARN: &str =
    "arn:aws:events:us-east-1:123456789012:rule/contract-hooks-ProcessorFunctionSweep";

pub(super) const ARCHIVE_QUEUE_ARN: &str =
    "arn:aws:sqs:us-east-1:123456789012:contract-hooks-ArchiveQueue";

/// ARCHIVE_BUCKET in env.json (the bucket `contract-hooks-local dev` creates).
pub(super) const ARCHIVE_BUCKET: &str = "contract-hooks-documents";

/// SUBNOTO_API_URL in env.json: nothing listens there (the discard port on
/// loopback, in a function's container as on the host), so a Subnoto job meets
/// a provider that cannot be reached and must come back as a batch item failure.
pub(super) const UNREACHABLE_SUBNOTO_PROXY: &str = "http://127.0.0.1:9";

/// Subnoto API keys for env.json: test values, never sent anywhere that answers.
pub(super) const TEST_SUBNOTO_API_KEYS: &str =
    r#"{"access_key":"local-test-access-key","secret_key":"local-test-secret-key"}"#;

/// Version of the queue message document (`store::QUEUE_MESSAGE_VERSION`).
pub(super) const QUEUE_MESSAGE_VERSION: u32 = 1;

/// Function logical ids in `template.yaml`.
pub(super) const INGEST_FUNCTION: &str = "IngestFunction";

pub(super) const PROCESSOR_FUNCTION: &str = "ProcessorFunction";

pub(super) const ARCHIVER_FUNCTION: &str = "ArchiverFunction";

/// A provider sample: its provider, file stem and exact bytes.
#[derive(Debug, Clone)]
pub struct Sample {
    pub(super) provider: Provider,
    pub(super) stem: String,
    pub(super) body: Vec<u8>,
}

pub(super) fn read_samples(dir: &Path) -> Result<Vec<Sample>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::usage(format!(
            "cannot read the samples directory {}: {e} (pass --samples DIR)",
            dir.display()
        ))
    })?;
    let mut samples = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let Some(provider) = stem.split('-').next().and_then(|p| p.parse().ok()) else {
            return Err(CliError::usage(format!(
                "sample {name} does not start with a provider name (spotdraft-, subnoto-)"
            )));
        };
        let body = std::fs::read(entry.path())
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", entry.path().display())))?;
        samples.push(Sample {
            provider,
            stem: stem.to_owned(),
            body,
        });
    }
    samples.sort_by(|a, b| a.stem.cmp(&b.stem));
    if samples.is_empty() {
        return Err(CliError::usage(format!(
            "no *.json samples in {}",
            dir.display()
        )));
    }
    Ok(samples)
}

/// Generated files (path relative to the output directory → JSON) and the manifest.
#[derive(Debug, Default)]
pub(super) struct EventSet {
    pub(super) files: BTreeMap<String, Value>,
    pub(super) expected: BTreeMap<String, Value>,
}

impl EventSet {
    pub(super) fn add(&mut self, path: String, event: Value, expected: Value) {
        assert!(
            self.files.insert(path.clone(), event).is_none(),
            "duplicate event file {path}"
        );
        self.expected.insert(path, expected);
    }
}

pub(super) fn signing_secret(provider: Provider) -> &'static str {
    match provider {
        Provider::SpotDraft => SPOTDRAFT_TEST_KEY,
        Provider::Subnoto => SUBNOTO_TEST_SECRET,
        Provider::DocuSign => DOCUSIGN_TEST_KEY,
    }
}

pub(super) fn first_sample(samples: &[Sample], provider: Provider) -> Result<&Sample, CliError> {
    samples
        .iter()
        .find(|s| s.provider == provider)
        .ok_or_else(|| CliError::usage(format!("no {provider} sample found")))
}

/// A stable, uuid-shaped id derived from `seed`.
pub(super) fn id_from(seed: &str) -> String {
    let h = verify::dedup_key_for_bytes(seed.as_bytes());
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A stable id shaped like API Gateway's short request ids (`JKJaXmPLvHcESHA=`).
pub(super) fn short_id(seed: &str) -> String {
    let h = verify::dedup_key_for_bytes(format!("{seed}#short").as_bytes());
    format!("{}=", &h[..15])
}

/// The generation time in the formats the events use.
pub(super) struct Clock {
    pub(super) t_ms: i64,
    /// `22/Nov/2026:10:00:00 +0000` (API Gateway's request time).
    pub(super) clf: String,
    /// `2026-11-22T10:00:00Z` (EventBridge).
    pub(super) rfc3339: String,
}

impl Clock {
    pub(super) fn new(t_ms: i64) -> Result<Clock, CliError> {
        let at = time::OffsetDateTime::from_unix_timestamp(t_ms.div_euclid(1000))
            .map_err(|_| CliError::usage("--timestamp-ms is out of range"))?;
        let format = |description: &str| {
            let description = time::format_description::parse_borrowed::<2>(description)
                .expect("the format descriptions are valid");
            at.format(&description).expect("formats a valid date")
        };
        Ok(Clock {
            t_ms,
            clf: format("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"),
            rfc3339: format("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        })
    }
}

/// MD5, only for the `md5OfBody` / `md5OfMessageAttributes` fields SQS puts in
/// its records (a checksum there, not a security measure).
pub(super) mod md5 {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    /// MD5 of `data`, lowercase hex.
    pub fn hex(data: &[u8]) -> String {
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
            .collect();
        let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        let mut message = data.to_vec();
        message.push(0x80);
        while message.len() % 64 != 56 {
            message.push(0);
        }
        message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
        for chunk in message.chunks_exact(64) {
            let m: Vec<u32> = chunk
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let [mut a, mut b, mut c, mut d] = state;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let rotated = a
                    .wrapping_add(f)
                    .wrapping_add(k[i])
                    .wrapping_add(m[g])
                    .rotate_left(S[i]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(rotated);
            }
            for (s, v) in state.iter_mut().zip([a, b, c, d]) {
                *s = s.wrapping_add(v);
            }
        }
        state
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// The bytes SQS digests for `md5OfMessageAttributes`: per attribute, sorted
    /// by name, length-prefixed name and data type, transport type 1 (string),
    /// length-prefixed value.
    pub fn message_attributes_bytes(
        attributes: &std::collections::BTreeMap<&str, &str>,
    ) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        for (name, value) in attributes {
            field(&mut out, name.as_bytes());
            field(&mut out, b"String");
            out.push(1);
            field(&mut out, value.as_bytes());
        }
        out
    }
}
