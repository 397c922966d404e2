//! Ingest's events: signed headers for each provider, and the negative cases
//! (bad or stale signature, unknown provider, wrong method, unsupported
//! content type, signed but unreadable body).

use contract_hooks::error::CliError;
use serde_json::json;
use verify::{BodyFormat, Provider};

use super::fixtures::*;
use super::lambda::*;

/// The headers `provider` sends for `body` (already encoded as `format`), signed
/// with `secret` at `t_ms`.
pub(super) fn signed_headers(
    provider: Provider,
    secret: &str,
    body: &[u8],
    t_ms: i64,
    format: BodyFormat,
) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), format.content_type().to_owned())];
    match provider {
        Provider::SpotDraft => headers.push((
            verify::spotdraft::SIGNATURE_HEADER.to_owned(),
            verify::spotdraft::sign(secret, body).expect("test keys are valid base64"),
        )),
        Provider::Subnoto => {
            headers.push((
                verify::subnoto::SIGNATURE_HEADER.to_owned(),
                verify::subnoto::sign(secret, t_ms, body),
            ));
            headers.push((
                verify::subnoto::WEBHOOK_ID_HEADER.to_owned(),
                SUBNOTO_WEBHOOK_ID.to_owned(),
            ));
        }
        Provider::DocuSign => {
            headers.push((
                verify::docusign::SIGNATURE_HEADER.to_owned(),
                verify::docusign::sign(secret, body),
            ));
            headers.push((
                verify::docusign::DIGEST_HEADER.to_owned(),
                verify::docusign::DIGEST_VALUE.to_owned(),
            ));
        }
    }
    headers.push(("User-Agent".to_owned(), format!("{provider}-webhooks/1.0")));
    headers
}

/// Requests that must be turned away, with the status the design gives them.
pub(super) fn negative_ingest_events(
    samples: &[Sample],
    clock: &Clock,
    set: &mut EventSet,
) -> Result<(), CliError> {
    let spotdraft = first_sample(samples, Provider::SpotDraft)?;
    let subnoto = first_sample(samples, Provider::Subnoto)?;
    let t = clock.t_ms;
    let json = BodyFormat::Json;
    let spotdraft_signed =
        |key: &str, at: i64| signed_headers(Provider::SpotDraft, key, &spotdraft.body, at, json);
    let subnoto_signed =
        |key: &str, at: i64| signed_headers(Provider::Subnoto, key, &subnoto.body, at, json);
    let post = |provider: &str, headers: Vec<(String, String)>, body: &[u8]| HttpRequest {
        method: "POST",
        path: format!("/webhooks/{provider}"),
        headers,
        body: body.to_vec(),
    };
    let mut unsigned = subnoto_signed(SUBNOTO_TEST_SECRET, t);
    unsigned.retain(|(name, _)| name != verify::subnoto::SIGNATURE_HEADER);
    let mut text_plain = spotdraft_signed(SPOTDRAFT_TEST_KEY, t);
    text_plain[0].1 = "text/plain".to_owned();
    let not_json = b"CONTRACT_SIGNED 48213".as_slice();

    let cases: Vec<(Api, &str, HttpRequest, u16)> = vec![
        (
            Api::V2,
            "spotdraft-bad-signature",
            post(
                "spotdraft",
                spotdraft_signed(WRONG_SPOTDRAFT_KEY, t),
                &spotdraft.body,
            ),
            401,
        ),
        (
            Api::V1,
            "spotdraft-bad-signature",
            post(
                "spotdraft",
                spotdraft_signed(WRONG_SPOTDRAFT_KEY, t),
                &spotdraft.body,
            ),
            401,
        ),
        (
            Api::V2,
            "subnoto-bad-signature",
            post(
                "subnoto",
                subnoto_signed(WRONG_SUBNOTO_SECRET, t),
                &subnoto.body,
            ),
            401,
        ),
        (
            Api::V2,
            "subnoto-stale-signature",
            post(
                "subnoto",
                // Ten minutes old: outside the 5-minute window whenever it is replayed.
                subnoto_signed(SUBNOTO_TEST_SECRET, t - 600_000),
                &subnoto.body,
            ),
            401,
        ),
        (
            Api::V2,
            "subnoto-unsigned",
            post("subnoto", unsigned, &subnoto.body),
            401,
        ),
        (
            Api::V2,
            "unknown-provider",
            post(
                "adobesign",
                spotdraft_signed(SPOTDRAFT_TEST_KEY, t),
                &spotdraft.body,
            ),
            404,
        ),
        (
            Api::V1,
            "unknown-provider",
            post(
                "adobesign",
                spotdraft_signed(SPOTDRAFT_TEST_KEY, t),
                &spotdraft.body,
            ),
            404,
        ),
        (
            Api::V1,
            "spotdraft-method-not-allowed",
            HttpRequest {
                method: "GET",
                path: "/webhooks/spotdraft".to_owned(),
                headers: vec![("User-Agent".to_owned(), "curl/8.5.0".to_owned())],
                body: Vec::new(),
            },
            405,
        ),
        (
            Api::V2,
            "spotdraft-unsupported-content-type",
            post("spotdraft", text_plain, &spotdraft.body),
            415,
        ),
        (
            Api::V2,
            "spotdraft-signed-not-json",
            post(
                "spotdraft",
                signed_headers(Provider::SpotDraft, SPOTDRAFT_TEST_KEY, not_json, t, json),
                not_json,
            ),
            400,
        ),
    ];
    for (api, name, request, status) in cases {
        let path = format!("ingest/{}-{name}.json", api.prefix());
        set.add(
            path.clone(),
            http_event(api, &path, &request, false, clock),
            json!({"function": INGEST_FUNCTION, "statusCode": status}),
        );
    }
    Ok(())
}
