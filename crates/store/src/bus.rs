//! The EventBridge bus the processor publishes contract events to.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::error::StoreError;
use domain::events::{BusEntry, SOURCE};

/// Entries per `PutEvents` call (EventBridge's limit).
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// Bytes per `PutEvents` call (EventBridge's limit, "less than 256KB", at
/// its lower reading as for one entry).
pub const MAX_BYTES_PER_CALL: usize = domain::events::MAX_ENTRY_BYTES;

/// An EventBridge bus.
#[derive(Debug, Clone)]
pub struct Bus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

/// Splits entries into `PutEvents` calls: at most 10 entries and 256 KB each,
/// in order. Each entry fits alone (`events::entry_for` sees to it).
pub fn chunks(entries: &[BusEntry]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        // "Less than 256KB" per call, as per entry.
        let full = i - start == MAX_ENTRIES_PER_CALL || bytes + entry.size() >= MAX_BYTES_PER_CALL;
        if full && i > start {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += entry.size();
    }
    if start < entries.len() {
        out.push(start..entries.len());
    }
    out
}

impl Bus {
    /// The bus named `name`.
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        Bus {
            client,
            name: name.into(),
        }
    }

    /// The bus name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Puts `entries` (one `PutEvents` per [`chunks`]); returns, per entry,
    /// whether EventBridge took it. A call that fails fails all its entries;
    /// a partial failure (`FailedEntryCount`) fails exactly the entries whose
    /// result carries an error code. Never logs the details.
    pub async fn put(&self, entries: &[BusEntry]) -> Vec<Result<(), EntryError>> {
        let mut results: Vec<Result<(), EntryError>> = Vec::with_capacity(entries.len());
        for range in chunks(entries) {
            let batch = &entries[range.clone()];
            match self.put_chunk(batch).await {
                Ok(per_entry) => results.extend(per_entry),
                Err(err) => {
                    let call = EntryError::Call(err.to_string());
                    results.extend(batch.iter().map(|_| Err(call.clone())));
                }
            }
        }
        results
    }

    /// Puts one entry; a rejected entry or a failed call is an error.
    pub async fn put_one(&self, entry: &BusEntry) -> Result<(), StoreError> {
        let taken = self
            .put_chunk(std::slice::from_ref(entry))
            .await?
            .pop()
            .unwrap_or(Err(EntryError::NoResult));
        taken.map_err(|err| StoreError::Aws {
            operation: "EventBridge.PutEvents",
            message: match err {
                EntryError::Refused(code) => format!("entry failed: {code}"),
                EntryError::NoResult => "answered no result for the entry".to_owned(),
                EntryError::Call(message) => message,
            },
        })
    }

    async fn put_chunk(
        &self,
        batch: &[BusEntry],
    ) -> Result<Vec<Result<(), EntryError>>, StoreError> {
        let request_entries = batch
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .source(SOURCE)
                    .detail_type(e.detail_type)
                    .detail(&e.detail)
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(request_entries))
            .send()
            .await
            .map_err(|e| StoreError::aws("EventBridge.PutEvents", e))?;
        Ok(entry_results(batch.len(), out.entries()))
    }
}

/// Why EventBridge did not take an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The `PutEvents` call itself failed, so every entry of it did.
    #[error("{0}")]
    Call(String),
    /// The answer refused this entry with an error code.
    #[error("EventBridge.PutEvents entry failed: {0}")]
    Refused(String),
    /// The answer has no result for this entry.
    #[error("EventBridge.PutEvents answered no result for the entry")]
    NoResult,
}

/// Per-entry outcome of a `PutEvents` answer: an entry failed when its result
/// has an error code, or when the answer has no result for it.
pub fn entry_results(
    sent: usize,
    answered: &[aws_sdk_eventbridge::types::PutEventsResultEntry],
) -> Vec<Result<(), EntryError>> {
    (0..sent)
        .map(|i| match answered.get(i) {
            Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
            Some(r) => Err(EntryError::Refused(
                r.error_code().unwrap_or("no event id").to_owned(),
            )),
            None => Err(EntryError::NoResult),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;

    fn entry(bytes: usize) -> BusEntry {
        BusEntry {
            detail_type: "Contract Event",
            detail: "x".repeat(bytes),
        }
    }

    #[test]
    fn chunks_hold_ten_entries_and_256_kb_at_most() {
        let small: Vec<_> = (0..23).map(|_| entry(100)).collect();
        assert_eq!(chunks(&small), vec![0..10, 10..20, 20..23]);
        let big: Vec<_> = (0..4).map(|_| entry(100 * 1024)).collect();
        assert_eq!(chunks(&big), vec![0..2, 2..4]);
        assert!(chunks(&[]).is_empty());
        let mixed = vec![entry(255 * 1024), entry(10 * 1024), entry(10)];
        assert_eq!(chunks(&mixed), vec![0..1, 1..3]);
    }

    #[test]
    fn partial_failures_fail_exactly_their_entries() {
        let ok = PutEventsResultEntry::builder().event_id("e1").build();
        let failed = PutEventsResultEntry::builder()
            .error_code("InternalFailure")
            .error_message("try again")
            .build();
        let results = entry_results(3, &[ok.clone(), failed, ok]);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(
            results[1],
            Err(EntryError::Refused("InternalFailure".into()))
        );
        assert!(results[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("InternalFailure"));
        // An answer with fewer results than entries fails the rest.
        let results = entry_results(2, &[PutEventsResultEntry::builder().event_id("e").build()]);
        assert!(results[0].is_ok() && results[1].is_err());
    }
}
