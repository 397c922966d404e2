//! What `load` sends: new events made from the samples with fresh ids and
//! times, duplicates of accepted ones and forged ones, each signed just before
//! it is sent.

use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use verify::{BodyFormat, Event, Provider, SecretSet, Verifier};

// ------------------------------------------------------------------ the plan

/// SplitMix64: small, seedable, good enough for a request mix and ids.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A random (version 4) UUID, lowercase.
    pub fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// What one request of the plan sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new event.
    New(Provider),
    /// An already-accepted event again (falls back to new when none is yet).
    Duplicate,
    /// A new event with a bad signature.
    Forged(Provider),
}

impl Kind {
    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::New(_) => "new",
            Kind::Duplicate => "duplicate",
            Kind::Forged(_) => "forged",
        }
    }
}

/// The providers the load mixes (half each): the two whose figures are in
/// BENCHMARKS.md. DocuSign's ingest path is the same code with another
/// verifier; it is not in the mix yet.
pub const LOAD_PROVIDERS: [Provider; 2] = [Provider::SpotDraft, Provider::Subnoto];

/// `n` request kinds: about `duplicates` and `forged` of them as such, the
/// rest new, providers half and half.
pub fn plan(n: usize, duplicates: f64, forged: f64, rng: &mut Rng) -> Vec<Kind> {
    (0..n)
        .map(|_| {
            let r = rng.unit();
            let provider = if rng.next_u64() & 1 == 0 {
                Provider::SpotDraft
            } else {
                Provider::Subnoto
            };
            if r < forged {
                Kind::Forged(provider)
            } else if r < forged + duplicates {
                Kind::Duplicate
            } else {
                Kind::New(provider)
            }
        })
        .collect()
}

/// A signed request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub provider: Provider,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The ledger key the body maps to.
    pub key: String,
}

/// Makes unique events from the samples and signs them.
pub struct Generator {
    pub(super) templates: Vec<(Provider, Value)>,
    pub(super) genuine: HashMap<Provider, Verifier>,
    pub(super) wrong: HashMap<Provider, Verifier>,
    pub(super) rng: Rng,
    /// A per-run base so SpotDraft contract ids differ between runs.
    pub(super) id_base: i64,
    pub(super) counter: i64,
}

pub(super) fn verifier(provider: Provider, secret: &str) -> anyhow::Result<Verifier> {
    Ok(Verifier::new(
        SecretSet::new(provider, [secret]).map_err(|e| anyhow!("{provider} secret: {e}"))?,
    ))
}

impl Generator {
    /// `templates`: sample payloads; `secrets`: the stack's (SpotDraft key, Subnoto secret).
    pub fn new(
        templates: Vec<(Provider, Value)>,
        spotdraft_key: &str,
        subnoto_secret: &str,
        seed: u64,
    ) -> anyhow::Result<Self> {
        for provider in LOAD_PROVIDERS {
            if !templates.iter().any(|(p, _)| *p == provider) {
                return Err(anyhow!("no {provider} sample"));
            }
        }
        let mut rng = Rng::new(seed);
        let id_base = 100_000_000 + (rng.next_u64() % 800_000) as i64 * 1_000_000;
        Ok(Generator {
            templates,
            genuine: HashMap::from([
                (
                    Provider::SpotDraft,
                    verifier(Provider::SpotDraft, spotdraft_key)?,
                ),
                (
                    Provider::Subnoto,
                    verifier(Provider::Subnoto, subnoto_secret)?,
                ),
            ]),
            wrong: HashMap::from([
                (
                    Provider::SpotDraft,
                    verifier(
                        Provider::SpotDraft,
                        "Zm9yZ2VkLWtleS1ub3QtdGhlLXJlY2VpdmVycy1rZXktMDAwMDAwMDA=",
                    )?,
                ),
                (
                    Provider::Subnoto,
                    verifier(Provider::Subnoto, "whsec_forged")?,
                ),
            ]),
            rng,
            id_base,
            counter: 0,
        })
    }

    /// A fresh, unique event body of `provider` from a random sample.
    pub fn new_body(&mut self, provider: Provider, now_ms: i64) -> Vec<u8> {
        let candidates: Vec<&Value> = self
            .templates
            .iter()
            .filter(|(p, _)| *p == provider)
            .map(|(_, v)| v)
            .collect();
        let mut value = candidates[self.rng.below(candidates.len())].clone();
        self.counter += 1;
        match provider {
            Provider::SpotDraft => {
                let now =
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
                        .ok()
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_default();
                value["contract_id"] = json!(self.id_base + self.counter);
                if value.get("activity_data").is_some_and(Value::is_object) {
                    value["activity_data"]["timestamp"] = json!(now);
                }
            }
            Provider::Subnoto => {
                if value.get("eventUuid").is_some() {
                    value["eventUuid"] = json!(self.rng.uuid());
                }
                value["eventTime"] = json!(now_ms);
                if value.get("data").is_some_and(Value::is_object) {
                    value["data"]["envelopeUuid"] = json!(self.rng.uuid());
                }
            }
            // `Generator::new` holds templates of LOAD_PROVIDERS only, so no
            // DocuSign body is ever asked for (`candidates` would be empty).
            Provider::DocuSign => unreachable!("DocuSign is not in LOAD_PROVIDERS"),
        }
        serde_json::to_vec(&value).expect("JSON values serialise")
    }

    /// Signs `body` the way the provider does, at `now_ms`.
    pub fn sign(&self, provider: Provider, body: Vec<u8>, now_ms: i64) -> Prepared {
        let headers = self.genuine[&provider].sign(&body, now_ms, BodyFormat::Json);
        let key = ledger_key(provider, &body);
        Prepared {
            provider,
            headers,
            body,
            key,
        }
    }

    /// A new event with a bad signature: signed with the wrong secret, or
    /// signed right and then changed (one trailing space: same event, other bytes).
    pub fn forge(&mut self, provider: Provider, now_ms: i64) -> Prepared {
        let mut body = self.new_body(provider, now_ms);
        let headers = if self.rng.next_u64() & 1 == 0 {
            self.wrong[&provider].sign(&body, now_ms, BodyFormat::Json)
        } else {
            let headers = self.genuine[&provider].sign(&body, now_ms, BodyFormat::Json);
            body.push(b' ');
            headers
        };
        let key = ledger_key(provider, &body);
        Prepared {
            provider,
            headers,
            body,
            key,
        }
    }

    pub(super) fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }
}

/// The ledger key ingest would store `body` under (also for forged bodies,
/// so their absence can be checked).
pub fn ledger_key(provider: Provider, body: &[u8]) -> String {
    Event::parse(provider, BodyFormat::Json, body)
        .map(|e| e.ledger_key())
        .unwrap_or_else(|_| format!("{provider}#{}", verify::dedup_key_for_bytes(body)))
}

pub(super) fn now_ms() -> i64 {
    domain::now_ms()
}

pub(super) fn read_secret(dir: &Path, file: &str, default: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub(super) fn load_templates(dir: &Path) -> anyhow::Result<Vec<(Provider, Value)>> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading samples from {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let provider = if name.starts_with("spotdraft") {
            Provider::SpotDraft
        } else if name.starts_with("subnoto") {
            Provider::Subnoto
        } else {
            continue;
        };
        let value: Value = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        out.push((provider, value));
    }
    Ok(out)
}
