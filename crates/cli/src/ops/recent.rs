//! `contract-hooks recent`: the subjects whose last event is the newest, for
//! an operator who has no id at hand.
//!
//! The status table is keyed by subject and has no index by time, so this is
//! a paginated `Scan` with a filter expression, projecting only the
//! attributes listed. A Scan reads (and bills) every item of the table,
//! whatever the filter and projection: about 0.5 read request units per 4 KB
//! (eventually consistent), so one run over 100,000 subjects of ~1.5 KB costs
//! about 19,000 RRUs (well under a US cent on demand) and a few seconds per 100 MB.
//! See docs/ARCHITECTURE.md ("Listing the latest subjects") for why this is a
//! Scan and not an index.

use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use store::RecentSubject;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use verify::Provider;

use crate::common::{format_ms, print_json, print_line, runtime, spinner};
use crate::error::CliResult;
use crate::ops::context::{failed, OpsContext};
use crate::ops::recovery::EnvArgs;
use crate::ops::status::shortened;
use crate::signing::ProviderArg;

/// List the subjects (contracts, envelopes) with the newest last events.
#[derive(Debug, Args)]
#[command(
    after_help = "Newest first by the time of the event that is each subject's current \
state (the provider's event time, or the arrival time for events that carry none): events \
ranked below the state (lower class, out of order) do not move a subject, and events applied \
late (after an outage) count at their provider time. Shows provider, id, status and lifecycle, \
title; --json adds the status table key (`status` finds any subject by its id). Reads STATUS_TABLE \
(and AWS_ENDPOINT_URL) from the environment, then from the env file `make dev` writes.\n\n\
Cost: the status table has no time index, so this Scans the whole table (filter and \
projection applied server side, pages followed): every item is read and billed, about 0.5 \
read request units per 4 KB of item whatever --since says; 100,000 subjects of ~1.5 KB are \
~19,000 RRUs. Fine now and then; not for a loop or automation. Needs dynamodb:Scan."
)]
pub struct RecentArgs {
    /// Only subjects whose last event is at or after this point: a duration
    /// back from now (90m, 24h, 7d, 2w) or an RFC 3339 time
    /// (2026-11-01T00:00:00Z).
    #[arg(long, value_name = "WHEN", value_parser = parse_since, default_value = "7d")]
    pub since: Since,

    /// Only this provider's subjects.
    #[arg(long, value_enum, ignore_case = true)]
    pub provider: Option<ProviderArg>,

    /// Show at most this many subjects (the newest).
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,

    /// Print the subjects as JSON.
    #[arg(long)]
    pub json: bool,

    /// Items DynamoDB evaluates per Scan request (default: as many as fit in
    /// 1 MB). For tests and throttled tables.
    #[arg(long, value_name = "N", hide = true,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub page_size: Option<i32>,

    #[command(flatten)]
    pub env: EnvArgs,
}

/// A `--since` value: a duration back from now, or a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Milliseconds back from now.
    Ago(i64),
    /// Unix milliseconds.
    At(i64),
}

impl Since {
    /// The point in time, ms, given now.
    pub fn ms(self, now_ms: i64) -> i64 {
        match self {
            Since::Ago(ago) => now_ms.saturating_sub(ago),
            Since::At(at) => at,
        }
    }
}

/// Parses `90m`, `24h`, `7d`, `2w`, `30s` or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<Since, String> {
    let s = s.trim();
    let unit_ms = |unit: &str| match unit {
        "s" => Some(1_000i64),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        "d" => Some(86_400_000),
        "w" => Some(7 * 86_400_000),
        _ => None,
    };
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let (number, unit) = s.split_at(digits);
        if let Some(unit_ms) = unit_ms(unit) {
            return number
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(unit_ms))
                .map(Since::Ago)
                .ok_or_else(|| format!("{s:?} is too long a duration"));
        }
        if unit.is_empty() {
            return Err(format!(
                "{s:?} has no unit: write a duration such as 90m, 24h or 7d, or an RFC 3339 time"
            ));
        }
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| Since::At((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| {
            format!(
                "{s:?} is neither a duration (90m, 24h, 7d, 2w) nor an RFC 3339 time \
                 (2026-11-01T00:00:00Z)"
            )
        })
}

/// One subject as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `spotdraft` or `subnoto`.
    pub provider: String,
    /// Contract id or envelope uuid (as stored, capped).
    pub subject: String,
    /// The status table key (`provider#id`, or a hashed key for a long id).
    pub key: String,
    /// Provider status, if any.
    pub status: Option<String>,
    /// Lifecycle (`domain::events::lifecycle`).
    pub lifecycle: &'static str,
    /// Title, if any.
    pub title: Option<String>,
    /// Last event type.
    pub last_event_type: Option<String>,
    /// Its time, ms.
    pub event_time_ms: i64,
}

impl Subject {
    fn from_recent(recent: RecentSubject) -> Subject {
        let lifecycle = recent
            .provider
            .parse::<Provider>()
            .map(|p| domain::events::lifecycle(p, recent.status.as_deref()))
            .unwrap_or("unknown");
        Subject {
            key: recent.key,
            subject: recent.subject,
            status: recent.status,
            lifecycle,
            title: recent.title,
            last_event_type: recent.last_event_type,
            event_time_ms: recent.event_time_ms,
            provider: recent.provider,
        }
    }

    fn json(&self) -> Value {
        json!({
            "provider": self.provider,
            "id": self.subject,
            "key": self.key,
            "status": self.status,
            "lifecycle": self.lifecycle,
            "title": self.title,
            "last_event_type": self.last_event_type,
            "last_event_at": format_ms(self.event_time_ms),
            "last_event_at_ms": self.event_time_ms,
        })
    }
}

/// Newest first; ties by provider and id, so the order is stable.
fn newest_first(a: &Subject, b: &Subject) -> std::cmp::Ordering {
    b.event_time_ms
        .cmp(&a.event_time_ms)
        .then_with(|| a.provider.cmp(&b.provider))
        .then_with(|| a.subject.cmp(&b.subject))
}

/// Runs `recent`.
pub fn run(args: RecentArgs) -> CliResult {
    let now = crate::input::now_ms()?;
    let since_ms = args.since.ms(now);
    let provider = args.provider.map(Provider::from);
    let limit = args.limit as usize;
    let rt = runtime()?;
    rt.block_on(async {
        let context = OpsContext::load(&args.env.env_file, &["STATUS_TABLE"]).await?;
        let table = context.status_table()?;
        let progress = spinner("scanning the status table: matched", args.json);
        let mut kept: Vec<Subject> = Vec::new();
        let (mut matched, mut scanned, mut pages) = (0usize, 0usize, 0usize);
        let mut cursor = None;
        loop {
            let page = table
                .recent_page(since_ms, provider, args.page_size, cursor.take())
                .await
                .map_err(|e| failed(&format!("scanning {}", table.table()), e))?;
            pages += 1;
            scanned += page.scanned;
            for key in &page.unreadable {
                eprintln!("skipped an unreadable status item {}", shortened(key, 80));
            }
            matched += page.subjects.len();
            kept.extend(page.subjects.into_iter().map(Subject::from_recent));
            progress.set_position(matched as u64);
            // Only the newest `limit` are ever needed: memory stays bounded.
            if kept.len() > limit.saturating_mul(4).max(1024) {
                kept.sort_by(newest_first);
                kept.truncate(limit);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        progress.finish_and_clear();
        kept.sort_by(newest_first);
        kept.truncate(limit);
        if args.json {
            print_json(&json!({
                "since": format_ms(since_ms),
                "provider": provider.map(|p| p.to_string()),
                "matched": matched,
                "shown": kept.len(),
                "scanned": scanned,
                "pages": pages,
                "subjects": kept.iter().map(Subject::json).collect::<Vec<_>>(),
            }))?;
            return Ok(ExitCode::SUCCESS);
        }
        if kept.is_empty() {
            print_line(&format!(
                "no subject with an event since {}{} ({scanned} item(s) scanned)",
                format_ms(since_ms),
                provider.map(|p| format!(" from {p}")).unwrap_or_default()
            ))?;
            return Ok(ExitCode::SUCCESS);
        }
        let ids: Vec<String> = kept.iter().map(|s| shortened(&s.subject, 40)).collect();
        let id_width = ids
            .iter()
            .map(|i| i.chars().count())
            .max()
            .unwrap_or(2)
            .max(2);
        let states: Vec<String> = kept
            .iter()
            .map(|s| match &s.status {
                Some(status) => format!("{} ({})", shortened(status, 24), s.lifecycle),
                None => format!("- ({})", s.lifecycle),
            })
            .collect();
        let state_width = states
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max("STATUS (LIFECYCLE)".len());
        print_line(&format!(
            "{:<24}  {:<9}  {:<id_width$}  {:<state_width$}  TITLE",
            "LAST EVENT", "PROVIDER", "ID", "STATUS (LIFECYCLE)"
        ))?;
        for ((s, id), state) in kept.iter().zip(&ids).zip(&states) {
            print_line(&format!(
                "{:<24}  {:<9}  {:<id_width$}  {:<state_width$}  {}",
                format_ms(s.event_time_ms),
                s.provider,
                id,
                state,
                s.title
                    .as_deref()
                    .map(|t| shortened(t, 60))
                    .unwrap_or_else(|| "-".into()),
            ))?;
        }
        print_line(&format!(
            "{} of {matched} subject(s) with an event since {}, newest first; \
             `contract-hooks status PROVIDER ID` shows one",
            kept.len(),
            format_ms(since_ms)
        ))?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_or_rfc3339() {
        assert_eq!(parse_since("90m"), Ok(Since::Ago(90 * 60_000)));
        assert_eq!(parse_since("24h"), Ok(Since::Ago(86_400_000)));
        assert_eq!(parse_since("7d"), Ok(Since::Ago(7 * 86_400_000)));
        assert_eq!(parse_since("2w"), Ok(Since::Ago(14 * 86_400_000)));
        assert_eq!(parse_since("30s"), Ok(Since::Ago(30_000)));
        assert_eq!(
            parse_since("2023-11-14T22:13:20Z"),
            Ok(Since::At(1_700_000_000_000))
        );
        assert_eq!(Since::Ago(1_000).ms(5_000), 4_000);
        for bad in [
            "",
            "24",
            "24x",
            "h",
            "-1h",
            "yesterday",
            "99999999999999999999d",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
        assert!(parse_since("24").unwrap_err().contains("no unit"));
    }

    #[test]
    fn newest_first_then_by_provider_and_id() {
        let subject = |p: &str, id: &str, t: i64| Subject {
            provider: p.into(),
            key: format!("{p}#{id}"),
            subject: id.into(),
            status: None,
            lifecycle: "unknown",
            title: None,
            last_event_type: None,
            event_time_ms: t,
        };
        let mut list = [
            subject("subnoto", "a", 1),
            subject("spotdraft", "b", 2),
            subject("spotdraft", "a", 2),
        ];
        list.sort_by(newest_first);
        let order: Vec<(&str, i64)> = list
            .iter()
            .map(|s| (s.subject.as_str(), s.event_time_ms))
            .collect();
        assert_eq!(order, [("a", 2), ("b", 2), ("a", 1)]);
    }
}
