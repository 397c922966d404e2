//! Unit tests of the status table's expressions and change rules.

use std::collections::BTreeSet;

use super::*;
use domain::sync::Rank;

#[test]
fn a_redelivered_winner_reads_its_change_back() {
    let item = |previous: Option<&str>| {
        let mut item = HashMap::from([
            (attr::LAST_EVENT_KEY.to_owned(), s("k")),
            (attr::STATUS.to_owned(), s("EXECUTED")),
        ]);
        if let Some(p) = previous {
            item.insert(attr::PREVIOUS_STATUS.to_owned(), s(p));
        }
        item
    };
    let executed = Some("EXECUTED");
    assert_eq!(
        redelivered_change(&item(Some("SIGN")), "k", executed),
        StatusChange::From("SIGN".to_owned())
    );
    assert_eq!(
        redelivered_change(&item(Some("")), "k", executed),
        StatusChange::First,
        "the subject's first status"
    );
    assert_eq!(
        redelivered_change(&item(Some("EXECUTED")), "k", executed),
        StatusChange::Unchanged
    );
    assert_eq!(
        redelivered_change(&item(None), "k", executed),
        StatusChange::Unchanged
    );
    assert_eq!(
        redelivered_change(&item(Some("SIGN")), "other", executed),
        StatusChange::Unchanged,
        "not the subject's state"
    );
    assert_eq!(
        redelivered_change(&item(Some("")), "k", None),
        StatusChange::Unchanged
    );
}

#[test]
fn a_later_copy_reads_the_kept_change_whoever_is_the_state() {
    let item = |kept: Option<&str>, winner: &str| {
        let mut item = HashMap::from([
            (attr::LAST_EVENT_KEY.to_owned(), s(winner)),
            (attr::STATUS.to_owned(), s("EXECUTED")),
        ]);
        if let Some(p) = kept {
            item.insert(unpublished_attribute("k"), s(p));
        }
        item
    };
    let executed = Some("EXECUTED");
    for winner in ["k", "later"] {
        assert_eq!(
            unpublished_change(&item(Some("SIGN"), winner), "k", executed),
            Some(StatusChange::From("SIGN".to_owned())),
            "winner {winner}"
        );
        assert_eq!(
            unpublished_change(&item(Some(""), winner), "k", executed),
            Some(StatusChange::First),
            "the subject's first status"
        );
        // Kept for a win that did not change the status: no change.
        assert_eq!(
            unpublished_change(&item(Some("EXECUTED"), winner), "k", executed),
            Some(StatusChange::Unchanged)
        );
        // Published (removed) or never kept.
        assert_eq!(unpublished_change(&item(None, winner), "k", executed), None);
    }
    assert_eq!(
        unpublished_change(&item(Some("SIGN"), "k"), "other", executed),
        None,
        "another event's change"
    );
}

#[test]
fn a_change_is_kept_and_read_back_as_it_was() {
    for change in [StatusChange::First, StatusChange::From("SIGN".to_owned())] {
        let stored = change.stored().unwrap();
        assert_eq!(StatusChange::from_stored(stored), change);
    }
    assert_eq!(StatusChange::Unchanged.stored(), None);
}

#[test]
fn expressions_name_every_placeholder_once() {
    let mut e = Expr::default();
    e.set(attr::STATUS, s("SENT"));
    e.set(attr::TITLE, s("t"));
    e.add(attr::SIGNERS, AttributeValue::Ss(vec!["a".into()]));
    assert_eq!(
        e.update_expression(),
        "SET #status = :status, #title = :title ADD #signers :signers"
    );
    assert_eq!(e.names.len(), 3);
    assert_eq!(e.values.len(), 3);
    let mut only_add = Expr::default();
    only_add.add(attr::SIGNERS, AttributeValue::Ss(vec!["a".into()]));
    assert_eq!(only_add.update_expression(), "ADD #signers :signers");
}

#[test]
fn every_field_has_its_own_rank_attribute() {
    let event: Event = serde_json::from_value(serde_json::json!({
        "provider": "spotdraft", "key": "k", "event_type": "CONTRACT_SIGNED",
        "title": "T", "reference": "R", "external_metadata": {"a": 1},
        "workspace": "W", "document_id": "D", "counterparty": "C"
    }))
    .unwrap();
    let names: Vec<&str> = fields(&event).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 6, "every field of the event: {names:?}");
    let ranks: BTreeSet<&str> = names.iter().map(|&n| rank_attribute(n)).collect();
    assert_eq!(ranks.len(), names.len(), "{ranks:?}");
    assert!(
        !ranks.contains("field_rank"),
        "a field without its own rank"
    );
}

#[test]
fn rank_text_sorts_as_the_rank_does() {
    let rank = |class, time_ms, key: &str| Rank {
        class,
        time_ms,
        key: key.into(),
    };
    let mut ranks = vec![
        rank(4, -5, "a"),
        rank(1, 1_795_341_600_000, "b"),
        rank(1, 1_795_341_600_000, "a"),
        rank(1, -1_000, "z"),
        rank(1, 0, "z"),
        rank(0, i64::MAX, "z"),
        rank(3, i64::MIN, ""),
        rank(1, 99, "a"),
        rank(1, 100, "a"),
    ];
    let mut texts: Vec<String> = ranks.iter().map(rank_text).collect();
    ranks.sort();
    texts.sort();
    assert_eq!(texts, ranks.iter().map(rank_text).collect::<Vec<_>>());
}

#[test]
fn a_superseded_event_writes_the_fields_it_outranks() {
    let fields = || vec![(attr::TITLE, s("T")), (attr::WORKSPACE, s("W"))];
    let signer = || Some(AttributeValue::Ss(vec!["a@example.com".into()]));
    // Each write as (update expression, condition).
    let writes = |stored: Option<&HashMap<String, AttributeValue>>, rank: &str| {
        superseded_writes(fields(), signer(), stored, rank)
            .into_iter()
            .map(|w| (w.update_expression(), w.condition))
            .collect::<Vec<_>>()
    };
    let add = ("ADD #signers :signers".to_owned(), None);
    let set = |f: &str| {
        (
            format!("SET #{f} = :{f}, #{f}_rank = :{f}_rank"),
            Some(format!(
                "attribute_not_exists(#{f}_rank) OR #{f}_rank < :{f}_rank"
            )),
        )
    };
    // Nothing returned: everything.
    assert_eq!(
        writes(None, "1|5"),
        [add.clone(), set("title"), set("workspace")]
    );
    let mut stored: HashMap<String, AttributeValue> = HashMap::from([
        (attr::TITLE.into(), s("older title")),
        ("title_rank".into(), s("1|3")),
        (attr::WORKSPACE.into(), s("W")),
        ("workspace_rank".into(), s("1|7")),
        (
            attr::SIGNERS.into(),
            AttributeValue::Ss(vec!["b@example.com".into()]),
        ),
    ]);
    // The title came from a lower rank: replaced. The workspace from a
    // higher one: kept, whatever the values.
    assert_eq!(writes(Some(&stored), "1|5"), [add, set("title")]);
    stored.insert(
        attr::SIGNERS.into(),
        AttributeValue::Ss(vec!["a@example.com".into(), "b@example.com".into()]),
    );
    stored.insert("title_rank".into(), s("1|5"));
    // The same event again (equal rank) writes nothing.
    assert_eq!(writes(Some(&stored), "1|5"), []);
    // A field the item lacks is written.
    stored.remove(attr::WORKSPACE);
    stored.remove("workspace_rank");
    assert_eq!(writes(Some(&stored), "1|5"), [set("workspace")]);
    // An event without fields or signer writes nothing.
    assert!(superseded_writes(vec![], None, None, "1|5").is_empty());
}

#[test]
fn absent_and_empty_fields_are_not_written() {
    let mut event: Event = serde_json::from_value(serde_json::json!({
        "provider": "spotdraft", "key": "k", "event_type": "CONTRACT_SIGNED",
        "title": "", "reference": "R-1", "external_metadata": {"b": 1, "a": 2},
        "signer": {"name": "N", "email": " "}
    }))
    .unwrap();
    let names: Vec<_> = fields(&event).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [attr::REFERENCE, attr::EXTERNAL_METADATA]);
    assert_eq!(
        fields(&event)[1].1,
        s(r#"{"a":2,"b":1}"#),
        "metadata is stored as canonical JSON"
    );
    // The email is preferred; a blank one falls back to the name.
    assert_eq!(
        signer_set(&event),
        Some(AttributeValue::Ss(vec!["N".into()]))
    );
    event.signer.as_mut().unwrap().name = None;
    assert_eq!(signer_set(&event), None);
    event.signer.as_mut().unwrap().email = Some("x@example.com".into());
    assert_eq!(
        signer_set(&event),
        Some(AttributeValue::Ss(vec!["x@example.com".into()]))
    );
}
