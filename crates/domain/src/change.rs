//! Whether an event changed its subject's status, as the status table's conditional
//! write decided it, and how that is kept in an item until it is on the bus.

/// Whether an event changed its subject's status, as the status table's
/// write decided it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StatusChange {
    /// The status stayed (or the event reports none, or it was superseded).
    #[default]
    Unchanged,
    /// The subject's first status: contract-hooks had seen none before.
    First,
    /// From this status to the event's.
    From(String),
}

impl StatusChange {
    /// How a change is kept in an item (`previous_status`, the ledger's
    /// `unpublished#{key}`): the status before, "" for a first status;
    /// `None` when there is no change.
    pub fn stored(&self) -> Option<&str> {
        match self {
            Self::Unchanged => None,
            Self::First => Some(""),
            Self::From(previous) => Some(previous),
        }
    }

    /// The change [`StatusChange::stored`] kept.
    pub fn from_stored(previous: &str) -> Self {
        if previous.is_empty() {
            Self::First
        } else {
            Self::From(previous.to_owned())
        }
    }
}

/// What stands for external metadata too large to keep or publish: a JSON
/// object that says so and how large it was, never a silent gap.
pub fn metadata_marker(bytes: usize) -> String {
    format!(r#"{{"contract_hooks_omitted":"external_metadata too large","bytes":{bytes}}}"#)
}
