//! The pure rules of the status sync: which status an event reports, and the
//! total order in which events for one subject supersede each other. No AWS
//! types here; `store::StatusTable` turns these rules into conditional writes.
//!
//! # Ordering
//!
//! Every event gets a [`Rank`] `(class, time, key)`, compared lexicographically.
//! The status item holds the fields of the highest-ranked event seen so far: an
//! event is applied only if it outranks the stored one. Because the rank is a
//! total order over events (the dedup key breaks ties in time), the state after
//! any delivery order, with any duplicates, is the state of the single highest
//! event, which is what in-order delivery gives.
//!
//! The class comes first so that no later-timed event can turn a Subnoto
//! envelope back to an earlier stage of its lifecycle, whatever order events
//! arrive in: an `ENVELOPE_OPENED` or a per-signer `ENVELOPE_SIGNED` after
//! `ENVELOPE_COMPLETED`, or an `ENVELOPE_OPENED` / `ENVELOPE_SENT` after the
//! first `ENVELOPE_SIGNED`. A Subnoto envelope only moves forward (created,
//! sent, being signed, finished), so its class is its stage. SpotDraft
//! statuses have no such order (a contract goes back to redlining, a voided one
//! can be reinstated): all of them share one class and the newest wins. A plain
//! "terminal is sticky" rule would not be order-independent: `OPENED@t3`
//! applied first would make a later-arriving `COMPLETED@t2` look old.

use std::cmp::Ordering;

use verify::{Event, Provider};

/// Subnoto statuses, derived from the event type.
pub mod subnoto {
    /// `ENVELOPE_CREATED`.
    pub const CREATED: &str = "CREATED";
    /// `ENVELOPE_SENT` (and `ENVELOPE_OPENED`: opening is not a new state).
    pub const SENT: &str = "SENT";
    /// `ENVELOPE_SIGNED` (once per signer).
    pub const SIGNING: &str = "SIGNING";
    /// `ENVELOPE_COMPLETED` (terminal).
    pub const COMPLETED: &str = "COMPLETED";
    /// `ENVELOPE_DECLINED` (terminal).
    pub const DECLINED: &str = "DECLINED";
    /// `ENVELOPE_CANCELED` / `ENVELOPE_CANCELLED` (terminal).
    pub const CANCELED: &str = "CANCELED";
}

/// DocuSign statuses, derived from the Connect event (and, for a recipient
/// completing, the envelope's status it reports). A DocuSign envelope moves
/// forward like a Subnoto one: created, sent (and delivered: viewed by every
/// recipient), being signed, then finished.
pub mod docusign {
    /// `envelope-created` (a draft).
    pub const CREATED: &str = "CREATED";
    /// `envelope-sent`, `recipient-sent`, `envelope-resent`.
    pub const SENT: &str = "SENT";
    /// `envelope-delivered`, `recipient-delivered`: viewed, not yet signed.
    pub const DELIVERED: &str = "DELIVERED";
    /// `recipient-completed` while the envelope is not yet completed.
    pub const SIGNING: &str = "SIGNING";
    /// `envelope-completed`, or `recipient-completed` reporting the envelope
    /// completed (terminal).
    pub const COMPLETED: &str = "COMPLETED";
    /// `envelope-declined`, `recipient-declined` (terminal).
    pub const DECLINED: &str = "DECLINED";
    /// `envelope-voided` (terminal).
    pub const VOIDED: &str = "VOIDED";
}

/// The DocuSign status a Connect event stands for, given the envelope status
/// it reports (`envelopeSummary.status`, if any); `None` for events that say
/// nothing of where the envelope stands (views, corrections, purges, …).
pub fn docusign_status(event: &str, envelope_status: Option<&str>) -> Option<&'static str> {
    let envelope_completed =
        envelope_status.is_some_and(|s| s.trim().eq_ignore_ascii_case("completed"));
    Some(match event.trim().to_ascii_lowercase().as_str() {
        "envelope-created" => docusign::CREATED,
        "envelope-sent" | "envelope-resent" | "recipient-sent" | "recipient-resent" => {
            docusign::SENT
        }
        "envelope-delivered" | "recipient-delivered" => docusign::DELIVERED,
        "recipient-completed" if envelope_completed => docusign::COMPLETED,
        "recipient-completed" => docusign::SIGNING,
        "envelope-completed" => docusign::COMPLETED,
        "envelope-declined" | "recipient-declined" => docusign::DECLINED,
        "envelope-voided" => docusign::VOIDED,
        _ => return None,
    })
}

/// The Subnoto status an event type stands for; `None` for types this code
/// does not know (they change no status).
pub fn subnoto_status(event_type: &str) -> Option<&'static str> {
    const TABLE: [(&str, &str); 8] = [
        ("ENVELOPE_CREATED", subnoto::CREATED),
        ("ENVELOPE_SENT", subnoto::SENT),
        ("ENVELOPE_OPENED", subnoto::SENT),
        ("ENVELOPE_SIGNED", subnoto::SIGNING),
        ("ENVELOPE_COMPLETED", subnoto::COMPLETED),
        ("ENVELOPE_DECLINED", subnoto::DECLINED),
        ("ENVELOPE_CANCELED", subnoto::CANCELED),
        ("ENVELOPE_CANCELLED", subnoto::CANCELED),
    ];
    let event_type = event_type.trim();
    TABLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(event_type))
        .map(|(_, status)| *status)
}

/// The status an event reports: SpotDraft's `contract_status` as sent, or the
/// Subnoto status derived from the event type. `None` when it reports none.
pub fn event_status(event: &Event) -> Option<String> {
    match event.provider {
        Provider::SpotDraft => event
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        Provider::Subnoto => subnoto_status(&event.event_type).map(str::to_owned),
        Provider::DocuSign => {
            docusign_status(&event.event_type, event.status.as_deref()).map(str::to_owned)
        }
    }
}

/// True for a status nothing may turn back: Subnoto `COMPLETED`, `DECLINED`,
/// `CANCELED`; DocuSign `COMPLETED`, `DECLINED`, `VOIDED`. SpotDraft has none
/// (its newest event always wins: a voided contract can be reinstated).
pub fn is_terminal(provider: Provider, status: &str) -> bool {
    match provider {
        Provider::SpotDraft => false,
        Provider::Subnoto => {
            [subnoto::COMPLETED, subnoto::DECLINED, subnoto::CANCELED].contains(&status)
        }
        Provider::DocuSign => {
            [docusign::COMPLETED, docusign::DECLINED, docusign::VOIDED].contains(&status)
        }
    }
}

/// Rank class of an event that reports no status (an unknown Subnoto type, a
/// SpotDraft payload without `contract_status`): it loses to every event that
/// does, so it can never hide a status, whatever the order.
pub const CLASS_NO_STATUS: u8 = 0;
/// Rank class of every SpotDraft status (they have no lifecycle order: the
/// newest wins) and of Subnoto's first stage, `CREATED`.
pub const CLASS_STATUS: u8 = 1;
/// Rank class of Subnoto `SENT` (`ENVELOPE_SENT`, `ENVELOPE_OPENED`).
pub const CLASS_SENT: u8 = 2;
/// Rank class of Subnoto `SIGNING` (`ENVELOPE_SIGNED`): signing is in
/// progress, and no sending or opening takes the envelope back to `SENT`.
pub const CLASS_SIGNING: u8 = 3;
/// Rank class of a terminal status (Subnoto `COMPLETED`, `DECLINED`,
/// `CANCELED`).
pub const CLASS_TERMINAL: u8 = 4;

/// The rank class of an event from `provider` reporting `status`: for
/// Subnoto, the lifecycle stage of the status.
pub fn rank_class(provider: Provider, status: Option<&str>) -> u8 {
    match (provider, status) {
        (_, None) => CLASS_NO_STATUS,
        (_, Some(s)) if is_terminal(provider, s) => CLASS_TERMINAL,
        (Provider::Subnoto, Some(subnoto::SIGNING)) => CLASS_SIGNING,
        (Provider::Subnoto, Some(subnoto::SENT)) => CLASS_SENT,
        (Provider::DocuSign, Some(docusign::SIGNING)) => CLASS_SIGNING,
        (Provider::DocuSign, Some(docusign::SENT | docusign::DELIVERED)) => CLASS_SENT,
        (_, Some(_)) => CLASS_STATUS,
    }
}

/// Where an event stands among the events of its subject. Field order is the
/// comparison order (derived `Ord` is lexicographic).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rank {
    /// [`CLASS_NO_STATUS`] … [`CLASS_TERMINAL`].
    pub class: u8,
    /// Provider event time (ms), or the fallback when the event has none.
    pub time_ms: i64,
    /// The event's dedup key: breaks ties in time.
    pub key: String,
}

impl Rank {
    /// True when an event of this rank replaces state written by `current`.
    /// Equal ranks (the same event again) do not: re-applying changes nothing.
    pub fn supersedes(&self, current: &Rank) -> bool {
        self.cmp(current) == Ordering::Greater
    }
}

/// What applying one event means for its subject's status item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The status the event reports, if any.
    pub status: Option<String>,
    /// Its rank.
    pub rank: Rank,
}

impl StatusUpdate {
    /// The update for `event`; `fallback_time_ms` (the queue message's arrival
    /// time) stands in for a missing provider event time.
    pub fn of(event: &Event, fallback_time_ms: i64) -> StatusUpdate {
        let status = event_status(event);
        let rank = Rank {
            class: rank_class(event.provider, status.as_deref()),
            time_ms: event.occurred_at_ms.unwrap_or(fallback_time_ms),
            key: event.key.clone(),
        };
        StatusUpdate { status, rank }
    }
}

/// A rank as a string that sorts as the rank does: class, then time (offset to
/// be non-negative and zero-padded), then key.
pub fn rank_text(rank: &Rank) -> String {
    let time = i128::from(rank.time_ms) - i128::from(i64::MIN);
    format!("{}|{time:020}|{}", rank.class, rank.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(provider: Provider, event_type: &str, time: Option<i64>, key: &str) -> Event {
        Event {
            provider,
            key: key.into(),
            event_type: event_type.into(),
            subject: Some("s".into()),
            occurred_at_ms: time,
            status: None,
            title: None,
            reference: None,
            external_metadata: None,
            contract_kind: None,
            workspace: None,
            document_id: None,
            counterparty: None,
            signer: None,
            unread_fields: Vec::new(),
        }
    }

    #[test]
    fn subnoto_types_map_to_statuses() {
        let cases = [
            ("ENVELOPE_CREATED", Some("CREATED")),
            ("ENVELOPE_SENT", Some("SENT")),
            ("ENVELOPE_OPENED", Some("SENT")),
            ("ENVELOPE_SIGNED", Some("SIGNING")),
            ("ENVELOPE_COMPLETED", Some("COMPLETED")),
            ("ENVELOPE_DECLINED", Some("DECLINED")),
            ("ENVELOPE_CANCELED", Some("CANCELED")),
            ("ENVELOPE_CANCELLED", Some("CANCELED")),
            ("envelope_completed", Some("COMPLETED")),
            ("ENVELOPE_REMINDER_SENT", None),
            ("", None),
        ];
        for (event_type, expected) in cases {
            assert_eq!(subnoto_status(event_type), expected, "{event_type}");
            let e = event(Provider::Subnoto, event_type, Some(1), "k");
            assert_eq!(event_status(&e).as_deref(), expected, "{event_type}");
        }
    }

    #[test]
    fn spotdraft_status_is_contract_status_and_never_terminal() {
        let mut e = event(Provider::SpotDraft, "CONTRACT_EXECUTED", Some(1), "k");
        assert_eq!(event_status(&e), None);
        assert_eq!(StatusUpdate::of(&e, 0).rank.class, CLASS_NO_STATUS);
        e.status = Some("EXECUTED".into());
        assert_eq!(event_status(&e).as_deref(), Some("EXECUTED"));
        assert_eq!(StatusUpdate::of(&e, 0).rank.class, CLASS_STATUS);
        e.status = Some("  ".into());
        assert_eq!(event_status(&e), None);
        // Subnoto's status names mean nothing special for SpotDraft.
        for status in ["COMPLETED", "SIGNING", "SENT"] {
            e.status = Some(status.into());
            assert_eq!(StatusUpdate::of(&e, 0).rank.class, CLASS_STATUS, "{status}");
        }
    }

    #[test]
    fn subnoto_classes_follow_the_envelope_lifecycle() {
        let class = |t: &str| {
            StatusUpdate::of(&event(Provider::Subnoto, t, Some(1), "k"), 0)
                .rank
                .class
        };
        let lifecycle = [
            "ENVELOPE_CREATED",
            "ENVELOPE_SENT",
            "ENVELOPE_SIGNED",
            "ENVELOPE_COMPLETED",
        ];
        for pair in lifecycle.windows(2) {
            assert!(class(pair[0]) < class(pair[1]), "{pair:?}");
        }
        assert_eq!(class("ENVELOPE_OPENED"), class("ENVELOPE_SENT"));
        for terminal in [
            "ENVELOPE_DECLINED",
            "ENVELOPE_CANCELED",
            "ENVELOPE_CANCELLED",
        ] {
            assert_eq!(class(terminal), CLASS_TERMINAL, "{terminal}");
        }
        assert_eq!(class("ENVELOPE_REMINDER_SENT"), CLASS_NO_STATUS);
    }

    #[test]
    fn opening_or_sending_after_the_first_signature_does_not_go_back_to_sent() {
        let signed = StatusUpdate::of(
            &event(Provider::Subnoto, "ENVELOPE_SIGNED", Some(2), "m"),
            0,
        );
        for later in ["ENVELOPE_OPENED", "ENVELOPE_SENT", "ENVELOPE_CREATED"] {
            let u = StatusUpdate::of(&event(Provider::Subnoto, later, Some(3), "z"), 0);
            assert!(signed.rank.supersedes(&u.rank), "{later}");
            assert!(!u.rank.supersedes(&signed.rank), "{later}");
        }
        // Created and sent in the same millisecond: sent wins, whatever the keys.
        let created = StatusUpdate::of(
            &event(Provider::Subnoto, "ENVELOPE_CREATED", Some(5), "z"),
            0,
        );
        let sent = StatusUpdate::of(&event(Provider::Subnoto, "ENVELOPE_SENT", Some(5), "a"), 0);
        assert!(sent.rank.supersedes(&created.rank));
        // Among signatures (and among SpotDraft statuses) the newest wins.
        let second = StatusUpdate::of(
            &event(Provider::Subnoto, "ENVELOPE_SIGNED", Some(3), "a"),
            0,
        );
        assert!(second.rank.supersedes(&signed.rank));
    }

    #[test]
    fn terminal_class_outranks_any_later_non_terminal_event() {
        let completed = StatusUpdate::of(
            &event(Provider::Subnoto, "ENVELOPE_COMPLETED", Some(2), "b"),
            0,
        );
        for later in ["ENVELOPE_OPENED", "ENVELOPE_SIGNED", "ENVELOPE_SENT"] {
            let u = StatusUpdate::of(&event(Provider::Subnoto, later, Some(3), "z"), 0);
            assert!(completed.rank.supersedes(&u.rank), "{later}");
            assert!(!u.rank.supersedes(&completed.rank), "{later}");
        }
        // Among terminal events the newest wins.
        let declined = StatusUpdate::of(
            &event(Provider::Subnoto, "ENVELOPE_DECLINED", Some(5), "a"),
            0,
        );
        assert!(declined.rank.supersedes(&completed.rank));
        // Any status outranks no status, even a much newer one.
        let unknown = StatusUpdate::of(&event(Provider::Subnoto, "ENVELOPE_X", Some(99), "z"), 0);
        let created = StatusUpdate::of(
            &event(Provider::Subnoto, "ENVELOPE_CREATED", Some(1), "a"),
            0,
        );
        assert!(created.rank.supersedes(&unknown.rank));
    }

    #[test]
    fn time_then_key_break_ties_and_equal_ranks_do_not_supersede() {
        let at = |t, k: &str| {
            StatusUpdate::of(&event(Provider::SpotDraft, "X", Some(t), k), 0)
                .rank
                .clone()
        };
        assert!(at(2, "a").supersedes(&at(1, "z")));
        assert!(at(2, "b").supersedes(&at(2, "a")));
        assert!(!at(2, "a").supersedes(&at(2, "b")));
        assert!(!at(2, "a").supersedes(&at(2, "a")), "same event twice");
        // Keys compare as bytes, like DynamoDB strings.
        assert!(at(1, "b").supersedes(&at(1, "B")));
        assert!(at(1, "ab").supersedes(&at(1, "a")));
    }

    #[test]
    fn missing_event_time_falls_back() {
        let e = event(Provider::Subnoto, "ENVELOPE_SENT", None, "k");
        assert_eq!(StatusUpdate::of(&e, 1234).rank.time_ms, 1234);
        let e = event(Provider::Subnoto, "ENVELOPE_SENT", Some(7), "k");
        assert_eq!(StatusUpdate::of(&e, 1234).rank.time_ms, 7);
    }

    #[test]
    fn the_winner_of_any_permutation_is_the_same() {
        // A small exhaustive check of the order-independence argument: folding
        // "replace if it supersedes" over every permutation ends on one event.
        let winner = |events: &[Event]| {
            let updates: Vec<_> = events.iter().map(|e| StatusUpdate::of(e, 0)).collect();
            let mut winners = std::collections::HashSet::new();
            let mut order: Vec<usize> = (0..updates.len()).collect();
            permute(&mut order, 0, &mut |perm| {
                let mut current: Option<&StatusUpdate> = None;
                for &i in perm {
                    let u = &updates[i];
                    if current.is_none_or(|c| u.rank.supersedes(&c.rank)) {
                        current = Some(u);
                    }
                }
                winners.insert(current.unwrap().rank.key.clone());
            });
            assert_eq!(winners.len(), 1, "{winners:?}");
            winners.into_iter().next().unwrap()
        };
        let finished = [
            event(Provider::Subnoto, "ENVELOPE_OPENED", Some(3), "e1"),
            event(Provider::Subnoto, "ENVELOPE_COMPLETED", Some(2), "e2"),
            event(Provider::Subnoto, "ENVELOPE_SIGNED", Some(2), "e3"),
            event(Provider::Subnoto, "ENVELOPE_SIGNED", Some(2), "e4"),
            event(Provider::Subnoto, "ENVELOPE_MYSTERY", Some(9), "e5"),
        ];
        assert_eq!(winner(&finished), "e2");
        let being_signed = [
            event(Provider::Subnoto, "ENVELOPE_CREATED", Some(1), "f1"),
            event(Provider::Subnoto, "ENVELOPE_SIGNED", Some(2), "f2"),
            event(Provider::Subnoto, "ENVELOPE_SENT", Some(3), "f3"),
            event(Provider::Subnoto, "ENVELOPE_OPENED", Some(4), "f4"),
            event(Provider::Subnoto, "ENVELOPE_MYSTERY", Some(9), "f5"),
        ];
        assert_eq!(winner(&being_signed), "f2");
    }

    fn permute(items: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == items.len() {
            f(items);
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permute(items, k + 1, f);
            items.swap(k, i);
        }
    }
}
