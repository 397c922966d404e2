//! The activity types a SpotDraft webhook subscription may ask for: the
//! `only_for_activities` enumeration of SpotDraft's public API
//! (`POST /api/v2.1/public/webhooks/`, schema `OnlyForActivitiesEnum`). The one
//! place this list lives; `register` refuses anything else.

/// Every documented activity type, in the API's order.
pub const ACTIVITIES: [&str; 37] = [
    "CONTRACT_VERSION_UPLOADED",
    "CONTRACT_APPROVAL_COMPLETED",
    "CONTRACT_APPROVAL_REQUESTED",
    "CONTRACT_CREATED",
    "CONTRACT_DATA_UPDATED",
    "CONTRACT_DELETED",
    "CONTRACT_EXECUTED",
    "CONTRACT_MARK_FOR_EXECUTION",
    "CONTRACT_SENT_TO_COUNTERPARTY",
    "CONTRACT_SIGNATURE_DECLINED",
    "CONTRACT_SIGNATURE_REQUESTED",
    "CONTRACT_SIGNED",
    "CONTRACT_UNMARK_FOR_EXECUTION",
    "POSTMARK_EMAIL_EVENT",
    "CONTRACT_KEY_POINTER_UPDATION",
    "CONTRACT_KEY_POINTER_CREATION",
    "SIGNING_EMAIL_DELIVERED",
    "SIGNING_EMAIL_OPENED",
    "SIGNING_EMAIL_NOT_DELIVERED",
    "SIGNING_EMAIL_LINK_CLICKED",
    "REDLINING_EMAIL_DELIVERED",
    "REDLINING_EMAIL_OPENED",
    "REDLINING_EMAIL_NOT_DELIVERED",
    "REDLINING_EMAIL_LINK_CLICKED",
    "CONTRACT_SIGNATURE_REQUESTED_NOTIFICATION_SENT",
    "COUNTER_PARTY_CREATED",
    "COUNTER_PARTY_UPDATED",
    "COUNTER_PARTY_CONTACT_CREATED",
    "COUNTER_PARTY_CONTACT_UPDATED",
    "COUNTER_PARTY_ADDRESS_CREATED",
    "COUNTER_PARTY_ADDRESS_UPDATED",
    "CONTRACT_ACTIVITY_LOG_COMMENT_CREATED",
    "CONTRACT_VOIDED",
    "CONTRACT_PROCESS_METRIC_UPDATED",
    "CONTRACT_EXTERNAL_METADATA_CREATED",
    "CONTRACT_EXTERNAL_METADATA_UPDATED",
    "CONTRACT_ENTITY_UPDATED",
];

/// Checks `given` against [`ACTIVITIES`] (case-insensitive, surrounding
/// whitespace ignored) and returns them in canonical spelling, in the order
/// given, without duplicates. The error names every unknown value and lists
/// the documented ones.
pub fn validate(given: &[String]) -> Result<Vec<String>, String> {
    if given.is_empty() {
        return Err(format!(
            "at least one --activity is required; documented activities:\n  {}",
            ACTIVITIES.join("\n  ")
        ));
    }
    let mut out: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for raw in given {
        let name = raw.trim().to_ascii_uppercase();
        match ACTIVITIES.iter().find(|a| **a == name) {
            Some(known) => {
                if !out.iter().any(|o| o == known) {
                    out.push((*known).to_owned());
                }
            }
            None => unknown.push(raw.trim().to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown SpotDraft activit{} {}; documented activities:\n  {}",
            if unknown.len() == 1 { "y" } else { "ies" },
            unknown
                .iter()
                .map(|u| format!("{u:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            ACTIVITIES.join("\n  ")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_the_documented_37_without_duplicates() {
        let unique: std::collections::BTreeSet<_> = ACTIVITIES.iter().collect();
        assert_eq!(unique.len(), 37);
        for needed in [
            "CONTRACT_CREATED",
            "CONTRACT_SENT_TO_COUNTERPARTY",
            "CONTRACT_SIGNED",
            "CONTRACT_EXECUTED",
            "CONTRACT_VOIDED",
        ] {
            assert!(ACTIVITIES.contains(&needed), "{needed}");
        }
    }

    #[test]
    fn known_activities_are_normalised_and_deduplicated() {
        let given = ["contract_signed", " CONTRACT_CREATED ", "CONTRACT_SIGNED"].map(String::from);
        assert_eq!(
            validate(&given).unwrap(),
            ["CONTRACT_SIGNED", "CONTRACT_CREATED"]
        );
    }

    #[test]
    fn unknown_or_no_activities_are_refused_with_the_list() {
        let err = validate(&["CONTRACT_SIGNED".into(), "CONTRACT_EXPLODED".into()]).unwrap_err();
        assert!(err.contains("\"CONTRACT_EXPLODED\""), "{err}");
        assert!(err.contains("CONTRACT_ENTITY_UPDATED"), "{err}");
        let err = validate(&[]).unwrap_err();
        assert!(err.contains("at least one"), "{err}");
        assert!(err.contains("CONTRACT_VOIDED"), "{err}");
    }
}
