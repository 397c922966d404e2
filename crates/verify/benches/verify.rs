//! Verification cost per provider and body size, beside the bare HMAC of the
//! same bytes (the floor): `verify` alone, `parse_key` alone (the body to an
//! `Event` and its ledger key) and `verify_parse_key`, what ingest does per
//! request before its AWS calls. `cargo bench -p verify`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use verify::{BodyFormat, Event, Provider, SecretSet, Verifier};

const NOW: i64 = 1_795_341_601_234;

/// A realistic JSON body padded to about `size` bytes with a metadata field.
fn body(provider: Provider, size: usize) -> Vec<u8> {
    let base = match provider {
        Provider::SpotDraft => {
            r#"{"activity":"CONTRACT_SIGNED","contract_id":48213,"contract_status":"SIGN","contract_title":"Master Services Agreement","activity_data":{"timestamp":"2026-11-22T09:58:40.001000Z","signatory":{"name":"Lena Fischer","email":"lena@example.com"}},"external_metadata":{"pad":"PAD"}}"#
        }
        Provider::Subnoto => {
            r#"{"eventUuid":"0f29a0a2-3a6f-44a4-b2a2-5d7b3f1b1f9b","eventType":"ENVELOPE_SIGNED","eventTime":1795341600000,"data":{"workspaceUuid":"a1b2c3d4","envelopeUuid":"e0d1c2b3","recipientEmail":"john@example.com","pad":"PAD"}}"#
        }
        Provider::DocuSign => {
            r#"{"event":"recipient-completed","apiVersion":"v2.1","retryCount":0,"configurationId":10712345,"generatedDateTime":"2026-11-24T09:31:43.6620193Z","data":{"accountId":"5f0c3d2e","envelopeId":"c0a80f1e","recipientId":"1","envelopeSummary":{"status":"sent","emailSubject":"PAD","recipients":{"signers":[{"recipientId":"1","name":"Priya Nair","email":"priya@example.com","status":"completed"}]}}}}"#
        }
    };
    let pad = "x".repeat(size.saturating_sub(base.len()));
    base.replace("PAD", &pad).into_bytes()
}

fn benches(c: &mut Criterion) {
    for provider in Provider::ALL {
        let secret = match provider {
            Provider::SpotDraft => {
                "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="
            }
            Provider::Subnoto => "whsec_subnoto_public_test_secret_0001",
            Provider::DocuSign => "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=",
        };
        let verifier = Verifier::new(SecretSet::new(provider, [secret]).unwrap());
        let mut group = c.benchmark_group(provider.as_str());
        for size in [1024usize, 16 * 1024, 256 * 1024] {
            let body = body(provider, size);
            let headers = verifier.sign(&body, NOW, BodyFormat::Json);
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::new("bare_hmac", size), &body, |b, body| {
                b.iter(|| match provider {
                    Provider::SpotDraft => {
                        let mut m = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
                        m.update(black_box(body));
                        black_box(m.finalize());
                    }
                    Provider::Subnoto | Provider::DocuSign => {
                        let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                        m.update(black_box(body));
                        black_box(m.finalize());
                    }
                })
            });
            group.bench_with_input(BenchmarkId::new("verify", size), &body, |b, body| {
                b.iter(|| verifier.verify(&headers, black_box(body), NOW).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("parse_key", size), &body, |b, body| {
                b.iter(|| {
                    let event = Event::parse(provider, BodyFormat::Json, black_box(body)).unwrap();
                    black_box(event.ledger_key())
                })
            });
            group.bench_with_input(
                BenchmarkId::new("verify_parse_key", size),
                &body,
                |b, body| {
                    b.iter(|| {
                        let event: Event = verifier
                            .verify_and_parse(&headers, black_box(body), NOW)
                            .unwrap();
                        black_box(event.ledger_key())
                    })
                },
            );
        }
        group.finish();
    }
}

criterion_group!(verify_benches, benches);
criterion_main!(verify_benches);
