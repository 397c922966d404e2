//! The archive queue's messages: a whole EventBridge event (what a rule's SQS
//! target delivers), read leniently: unknown fields are ignored, a message the
//! archiver cannot use is a clear [`RequestError`], never a panic.

use domain::events::CONTRACT_EVENT;
use serde_json::Value;
use store::archive::{EVENT_SOURCE, STATUS_CHANGED};
use verify::Provider;

/// The detail-type `contract-hooks archive` sends (an on-demand re-archive).
pub const ARCHIVE_REQUESTED: &str = "Contract Archive Requested";

/// The detail-type of a metadata job: the archive rule's second target
/// rewrites each executed `Contract Status Changed` to it (template.yaml,
/// `InputTransformer`), so the document and the metadata are two messages
/// that fail, back off and dead-letter independently.
pub const METADATA_REQUESTED: &str = "Contract Metadata Requested";

/// SpotDraft activities that change a contract's key pointers: a
/// `Contract Event` of an executed SpotDraft contract with one of these
/// `provider_event_type`s is a metadata job too.
pub const KEY_POINTER_ACTIVITIES: [&str; 2] = [
    "CONTRACT_KEY_POINTER_CREATION",
    "CONTRACT_KEY_POINTER_UPDATION",
];

/// What to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRequest {
    /// `detail.id`: the ledger key of the event (or the CLI's request id).
    pub id: String,
    /// The provider.
    pub provider: Provider,
    /// SpotDraft contract id (decimal) or Subnoto envelope uuid.
    pub subject: String,
    /// SpotDraft `contract_kind`.
    pub contract_kind: Option<String>,
    /// Subnoto workspace uuid.
    pub workspace: Option<String>,
    /// Subnoto document uuid.
    pub document_id: Option<String>,
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Archive this.
    Archive(ArchiveRequest),
    /// Fetch and record this contract's metadata values (SpotDraft only).
    Metadata(ArchiveRequest),
    /// Not for the archiver (another lifecycle or type): nothing to do.
    Ignore(&'static str),
}

/// The message cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON.
    #[error("message body is not JSON")]
    NotJson,
    /// Not an EventBridge event of this project.
    #[error("not a contract-hooks event: {0}")]
    NotOurs(&'static str),
    /// A field is missing or unusable.
    #[error("detail.{0} is missing or invalid")]
    Field(&'static str),
}

fn text(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The message `contract-hooks archive` puts on the archive queue: an
/// EventBridge-shaped event with detail-type [`ARCHIVE_REQUESTED`], read by
/// [`parse`] like the rule's deliveries.
pub fn request_body(request: &ArchiveRequest, time_rfc3339: &str) -> String {
    let mut detail = serde_json::json!({
        "version": "1",
        "id": request.id,
        "provider": request.provider.as_str(),
        "subject": request.subject,
        "lifecycle": "executed",
    });
    for (name, value) in [
        ("contract_kind", &request.contract_kind),
        ("workspace", &request.workspace),
        ("document_id", &request.document_id),
    ] {
        if let Some(v) = value {
            detail[name] = v.clone().into();
        }
    }
    serde_json::json!({
        "version": "0",
        "id": request.id,
        "detail-type": ARCHIVE_REQUESTED,
        "source": EVENT_SOURCE,
        "time": time_rfc3339,
        "resources": [],
        "detail": detail,
    })
    .to_string()
}

/// The metadata job `contract-hooks archive` puts next to [`request_body`]'s
/// for a SpotDraft contract: the same event with detail-type
/// [`METADATA_REQUESTED`], as the archive rule's metadata target delivers.
pub fn metadata_request_body(request: &ArchiveRequest, time_rfc3339: &str) -> String {
    let mut body: Value =
        serde_json::from_str(&request_body(request, time_rfc3339)).expect("request_body is JSON");
    body["detail-type"] = METADATA_REQUESTED.into();
    body.to_string()
}

/// Reads one message body.
pub fn parse(body: &str) -> Result<Request, RequestError> {
    let event: Value = serde_json::from_str(body).map_err(|_| RequestError::NotJson)?;
    if !event.is_object() {
        return Err(RequestError::NotOurs("not a JSON object"));
    }
    if event.get("source").and_then(Value::as_str) != Some(EVENT_SOURCE) {
        return Err(RequestError::NotOurs("source is not contract-hooks"));
    }
    let detail_type = event
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or(RequestError::NotOurs("no detail object"))?;
    match detail_type {
        STATUS_CHANGED => {
            if detail.get("lifecycle").and_then(Value::as_str) != Some("executed") {
                return Ok(Request::Ignore("lifecycle is not executed"));
            }
        }
        ARCHIVE_REQUESTED | METADATA_REQUESTED => {}
        CONTRACT_EVENT => {
            let activity = detail.get("provider_event_type").and_then(Value::as_str);
            if !activity.is_some_and(|a| KEY_POINTER_ACTIVITIES.contains(&a)) {
                return Ok(Request::Ignore("another detail-type"));
            }
            if detail.get("lifecycle").and_then(Value::as_str) != Some("executed") {
                return Ok(Request::Ignore("lifecycle is not executed"));
            }
        }
        _ => return Ok(Request::Ignore("another detail-type")),
    }
    let provider: Provider = text(detail, "provider")
        .and_then(|p| p.parse().ok())
        .ok_or(RequestError::Field("provider"))?;
    let subject = text(detail, "subject").ok_or(RequestError::Field("subject"))?;
    let id = text(detail, "id")
        .or_else(|| text(&event, "id"))
        .ok_or(RequestError::Field("id"))?;
    let request = ArchiveRequest {
        id,
        provider,
        subject,
        contract_kind: text(detail, "contract_kind"),
        workspace: text(detail, "workspace"),
        document_id: text(detail, "document_id"),
    };
    Ok(match detail_type {
        METADATA_REQUESTED | CONTRACT_EVENT if provider != Provider::SpotDraft => {
            Request::Ignore("metadata values are SpotDraft's only")
        }
        METADATA_REQUESTED | CONTRACT_EVENT => Request::Metadata(request),
        _ => Request::Archive(request),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(detail: Value) -> String {
        json!({
            "version": "0", "id": "eb-1", "detail-type": "Contract Status Changed",
            "source": "contract-hooks", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1", "resources": [], "detail": detail
        })
        .to_string()
    }

    #[test]
    fn the_documented_event_is_read_and_extra_fields_ignored() {
        let body = envelope(json!({
            "version": "2", "id": "spotdraft#abc", "provider": "spotdraft", "subject": "48213",
            "provider_event_type": "CONTRACT_EXECUTED", "status": "EXECUTED", "lifecycle": "executed",
            "previous_status": "SIGN", "previous_lifecycle": "out_for_signature", "rank": "1|x|y",
            "contract_kind": "TEMPLATE_CONTRACT", "counterparties": [{"name": "Jane"}], "future": {"x": 1}
        }));
        assert_eq!(
            parse(&body).unwrap(),
            Request::Archive(ArchiveRequest {
                id: "spotdraft#abc".into(),
                provider: Provider::SpotDraft,
                subject: "48213".into(),
                contract_kind: Some("TEMPLATE_CONTRACT".into()),
                workspace: None,
                document_id: None,
            })
        );
    }

    /// What the processor publishes for an execution, a change from SIGN or a
    /// contract first seen executed, is archived.
    #[test]
    fn the_processors_own_executed_entries_are_archived() {
        use domain::events::{entry_for, Delivery};
        use domain::StatusChange;
        let body = br#"{"activity":"CONTRACT_EXECUTED","contract_id":48213,"contract_status":"EXECUTED","contract_kind":"EXECUTED_CONTRACT"}"#;
        let event =
            verify::Event::parse(Provider::SpotDraft, verify::BodyFormat::Json, body).unwrap();
        for change in [StatusChange::From("SIGN".into()), StatusChange::First] {
            let entry = entry_for(&event, "spotdraft#k", 1, &change, Delivery::default());
            assert_eq!(entry.detail_type, STATUS_CHANGED, "{change:?}");
            let mut body: Value = serde_json::from_str(&envelope(json!({}))).unwrap();
            body["detail"] = serde_json::from_str(&entry.detail).unwrap();
            assert_eq!(
                parse(&body.to_string()),
                Ok(Request::Archive(ArchiveRequest {
                    id: "spotdraft#k".into(),
                    provider: Provider::SpotDraft,
                    subject: "48213".into(),
                    contract_kind: Some("EXECUTED_CONTRACT".into()),
                    workspace: None,
                    document_id: None,
                })),
                "{change:?}"
            );
        }
    }

    /// What the processor publishes for a key-pointer webhook of an executed
    /// contract (a `Contract Event`: the status did not change) is a metadata
    /// job, with the fields `KeyPointerRule` matches on.
    #[test]
    fn the_processors_key_pointer_events_are_metadata_jobs() {
        use domain::events::{entry_for, Delivery};
        use domain::StatusChange;
        let body = br#"{"activity":"CONTRACT_KEY_POINTER_UPDATION","contract_id":48213,"contract_status":"EXECUTED","contract_kind":"TEMPLATE_CONTRACT"}"#;
        let event =
            verify::Event::parse(Provider::SpotDraft, verify::BodyFormat::Json, body).unwrap();
        let entry = entry_for(
            &event,
            "spotdraft#kp",
            1,
            &StatusChange::Unchanged,
            Delivery::default(),
        );
        assert_eq!(entry.detail_type, CONTRACT_EVENT);
        let detail: Value = serde_json::from_str(&entry.detail).unwrap();
        let pattern = store::archive::key_pointer_rule_pattern();
        for field in ["provider", "lifecycle", "provider_event_type"] {
            let allowed = pattern["detail"][field].as_array().unwrap();
            assert!(
                allowed.contains(&detail[field]),
                "{field}: {}",
                detail[field]
            );
        }
        let mut body: Value = serde_json::from_str(&envelope(json!({}))).unwrap();
        body["detail-type"] = CONTRACT_EVENT.into();
        body["detail"] = detail;
        assert!(matches!(
            parse(&body.to_string()),
            Ok(Request::Metadata(ArchiveRequest { ref subject, .. })) if subject == "48213"
        ));
    }

    #[test]
    fn an_on_demand_request_reads_back() {
        let request = ArchiveRequest {
            id: "archive-request#1".into(),
            provider: Provider::Subnoto,
            subject: "5f0c7a2e".into(),
            contract_kind: None,
            workspace: Some("w".into()),
            document_id: Some("d".into()),
        };
        let body = request_body(&request, "2026-11-22T10:00:00Z");
        assert_eq!(parse(&body), Ok(Request::Archive(request.clone())));
        let spotdraft = ArchiveRequest {
            provider: Provider::SpotDraft,
            subject: "48213".into(),
            workspace: None,
            document_id: None,
            ..request
        };
        let body = metadata_request_body(&spotdraft, "2026-11-22T10:00:00Z");
        assert_eq!(parse(&body), Ok(Request::Metadata(spotdraft)));
    }

    /// What the archive rule's metadata target delivers (its
    /// `InputTransformer` output) and a key-pointer activity are metadata jobs.
    #[test]
    fn metadata_jobs_are_read() {
        let detail = json!({"id": "spotdraft#k", "provider": "spotdraft", "subject": "48213",
            "lifecycle": "executed", "contract_kind": "TEMPLATE_CONTRACT"});
        let job = ArchiveRequest {
            id: "spotdraft#k".into(),
            provider: Provider::SpotDraft,
            subject: "48213".into(),
            contract_kind: Some("TEMPLATE_CONTRACT".into()),
            workspace: None,
            document_id: None,
        };
        let mut body: Value = serde_json::from_str(&envelope(detail.clone())).unwrap();
        body["detail-type"] = METADATA_REQUESTED.into();
        assert_eq!(parse(&body.to_string()), Ok(Request::Metadata(job.clone())));
        body["detail-type"] = CONTRACT_EVENT.into();
        body["detail"]["provider_event_type"] = "CONTRACT_KEY_POINTER_UPDATION".into();
        assert_eq!(parse(&body.to_string()), Ok(Request::Metadata(job)));
        body["detail"]["lifecycle"] = "signing".into();
        assert!(matches!(parse(&body.to_string()), Ok(Request::Ignore(_))));
        body["detail"]["lifecycle"] = "executed".into();
        body["detail"]["provider_event_type"] = "CONTRACT_EDITED".into();
        assert!(matches!(parse(&body.to_string()), Ok(Request::Ignore(_))));
        body["detail-type"] = METADATA_REQUESTED.into();
        body["detail"]["provider"] = "subnoto".into();
        assert!(matches!(parse(&body.to_string()), Ok(Request::Ignore(_))));
    }

    #[test]
    fn other_lifecycles_and_types_are_ignored() {
        let body = envelope(
            json!({"id": "k", "provider": "subnoto", "subject": "e", "lifecycle": "signing"}),
        );
        assert!(matches!(parse(&body), Ok(Request::Ignore(_))));
        let mut other: Value = serde_json::from_str(&envelope(json!({}))).unwrap();
        other["detail-type"] = "Contract Event".into();
        assert!(matches!(parse(&other.to_string()), Ok(Request::Ignore(_))));
    }

    #[test]
    fn unusable_messages_are_errors() {
        assert_eq!(parse("nope"), Err(RequestError::NotJson));
        assert!(matches!(parse("[1]"), Err(RequestError::NotOurs(_))));
        assert!(matches!(
            parse(r#"{"source":"aws.events","detail":{}}"#),
            Err(RequestError::NotOurs(_))
        ));
        let body = envelope(
            json!({"id": "k", "provider": "adobesign", "subject": "1", "lifecycle": "executed"}),
        );
        assert_eq!(parse(&body), Err(RequestError::Field("provider")));
        let body = envelope(json!({"id": "k", "provider": "spotdraft", "lifecycle": "executed"}));
        assert_eq!(parse(&body), Err(RequestError::Field("subject")));
        let body = envelope(json!("a string"));
        assert!(matches!(parse(&body), Err(RequestError::NotOurs(_))));
    }
}
