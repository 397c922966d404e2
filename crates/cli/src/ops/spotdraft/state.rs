//! The local record of SpotDraft webhook subscriptions this tool created: a
//! JSON file (default `.contract-hooks/spotdraft-subscriptions.json`), one
//! entry per subscription with the API base URL it lives at, so `delete` and
//! `rotate` act on an id they created and never guess one.
//!
//! Writes are atomic (a temporary file in the same directory, then rename): a
//! crash leaves the previous record or the new one, never half of either. An
//! unreadable file is an error, never silently replaced.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Where the record lives unless `--state` says otherwise.
pub const DEFAULT_STATE_FILE: &str = ".contract-hooks/spotdraft-subscriptions.json";
/// Version of the file format.
const STATE_VERSION: u32 = 1;

/// One subscription this tool registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// SpotDraft's webhook id.
    pub id: u64,
    /// The API base URL it was created at (its workspace region).
    pub base_url: String,
    /// The receiver URL.
    pub url: String,
    /// `only_for_activities`.
    pub activities: Vec<String>,
    /// The subscription's title.
    pub title: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    version: u32,
    /// Every recorded subscription, oldest first.
    pub subscriptions: Vec<Subscription>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            subscriptions: Vec::new(),
        }
    }
}

impl State {
    /// Reads `path`; a missing file is an empty record.
    pub fn load(path: &Path) -> Result<State, CliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(CliError::usage(format!(
                    "cannot read the subscription record {}: {e}",
                    path.display()
                )))
            }
        };
        let state: State = serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!(
                "the subscription record {} is not valid ({e}); fix or move it aside",
                path.display()
            ))
        })?;
        if state.version != STATE_VERSION {
            return Err(CliError::usage(format!(
                "the subscription record {} has version {}, this tool reads version {STATE_VERSION}",
                path.display(),
                state.version
            )));
        }
        Ok(state)
    }

    /// Writes the record to `path` atomically, creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |what: &str, e: std::io::Error| {
            CliError::Failed(anyhow::anyhow!("cannot {what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
        }
        let mut text = serde_json::to_string_pretty(self).expect("the record serialises");
        text.push('\n');
        let tmp = temp_path(path);
        std::fs::write(&tmp, text).map_err(|e| fail("write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail("replace", e)
        })
    }

    /// The subscriptions recorded at `base_url`.
    pub fn at(&self, base_url: &str) -> Vec<&Subscription> {
        self.subscriptions
            .iter()
            .filter(|s| s.base_url == base_url)
            .collect()
    }

    /// The subscription `id` at `base_url`, if recorded.
    pub fn find(&self, base_url: &str, id: u64) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.base_url == base_url && s.id == id)
    }

    /// Records `subscription` (replacing a record of the same id and base URL).
    pub fn add(&mut self, subscription: Subscription) {
        self.remove(&subscription.base_url, subscription.id);
        self.subscriptions.push(subscription);
    }

    /// Forgets subscription `id` at `base_url`; true when it was recorded.
    pub fn remove(&mut self, base_url: &str, id: u64) -> bool {
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|s| !(s.base_url == base_url && s.id == id));
        self.subscriptions.len() != before
    }

    /// The one subscription recorded at `base_url`, for commands whose id
    /// defaults to it; an error when there are none or several.
    pub fn only_at(&self, base_url: &str, path: &Path) -> Result<&Subscription, CliError> {
        match self.at(base_url).as_slice() {
            [one] => Ok(one),
            [] => Err(CliError::usage(format!(
                "no SpotDraft subscription at {base_url} is recorded in {}: pass --id N \
                 (and --force for one this tool did not register)",
                path.display()
            ))),
            several => Err(CliError::usage(format!(
                "{} subscriptions at {base_url} are recorded in {} (ids {}): pass --id to choose",
                several.len(),
                path.display(),
                several
                    .iter()
                    .map(|s| s.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// A temporary sibling of `path` for an atomic replace.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: u64, base: &str) -> Subscription {
        Subscription {
            id,
            base_url: base.into(),
            url: "https://example.com/webhooks/spotdraft".into(),
            activities: vec!["CONTRACT_SIGNED".into()],
            title: "t".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn records_round_trip_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/subs.json");
        assert_eq!(State::load(&path).unwrap(), State::default());
        let mut state = State::default();
        state.add(sub(1, "https://a"));
        state.add(sub(2, "https://b"));
        state.add(sub(1, "https://a"));
        state.save(&path).unwrap();
        let back = State::load(&path).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.subscriptions.len(), 2);
        assert!(back.find("https://a", 1).is_some());
        assert!(back.find("https://b", 1).is_none(), "ids are per base URL");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["subs.json"]);
    }

    #[test]
    fn the_default_id_must_be_unambiguous() {
        let path = Path::new("subs.json");
        let mut state = State::default();
        assert!(state.only_at("https://a", path).is_err());
        state.add(sub(1, "https://a"));
        state.add(sub(5, "https://b"));
        assert_eq!(state.only_at("https://a", path).unwrap().id, 1);
        state.add(sub(2, "https://a"));
        let Err(CliError::Usage(msg)) = state.only_at("https://a", path) else {
            panic!("expected a usage error");
        };
        assert!(msg.contains("1, 2"), "{msg}");
        assert!(state.remove("https://a", 1));
        assert!(!state.remove("https://a", 1));
    }

    #[test]
    fn a_broken_file_is_an_error_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subs.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(State::load(&path), Err(CliError::Usage(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    }
}
