//! A document download being streamed to the bucket, bounded in time: it
//! ends by the invocation's deadline (the Lambda context's, less a margin
//! for aborting the upload and reporting the record), a read waiting longer
//! than [`DownloadLimits::stall`] fails, and so does a body arriving slower
//! than [`DownloadLimits::min_bytes_per_window`] per
//! [`DownloadLimits::window`] (a trickle that would otherwise run into the
//! function's timeout). Every chunk goes through [`DocumentCheck`] first.
//!
//! A failure here ends `DocumentStore::upload` with a source error, which
//! aborts its multipart upload; the record is retried with back-off.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::document::{declared_sha256, DocumentCheck};
use crate::http::{transport, FetchError, SlowDownload};

/// How slow a download may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadLimits {
    /// Longest wait for the next bytes.
    pub stall: Duration,
    /// The throughput window.
    pub window: Duration,
    /// Bytes that must arrive per window.
    pub min_bytes_per_window: u64,
}

impl Default for DownloadLimits {
    /// 20 s without a byte, or under 64 KiB in 10 s (6.5 KB/s), fails.
    fn default() -> Self {
        DownloadLimits {
            stall: Duration::from_secs(20),
            window: Duration::from_secs(10),
            min_bytes_per_window: 64 * 1024,
        }
    }
}

/// The throughput floor over consecutive windows.
#[derive(Debug)]
struct Throughput {
    window: Duration,
    min_bytes: u64,
    since: Instant,
    bytes: u64,
}

impl Throughput {
    fn new(limits: &DownloadLimits, now: Instant) -> Self {
        Throughput {
            window: limits.window,
            min_bytes: limits.min_bytes_per_window,
            since: now,
            bytes: 0,
        }
    }

    /// Counts `n` bytes read at `now`; an error when a window ended short.
    fn observe(&mut self, n: usize, now: Instant) -> Result<(), SlowDownload> {
        self.bytes += n as u64;
        if now.duration_since(self.since) >= self.window {
            if self.bytes < self.min_bytes {
                return Err(SlowDownload::Throughput);
            }
            self.since = now;
            self.bytes = 0;
        }
        Ok(())
    }
}

/// A download being streamed: its checked chunks for
/// `store::archive::DocumentStore::upload`.
pub struct Download {
    what: &'static str,
    response: reqwest::Response,
    deadline: Instant,
    stall: Duration,
    throughput: Throughput,
    check: DocumentCheck,
}

impl Download {
    /// Checks a successful answer's declared size against `limit`; the
    /// download must end by `deadline`.
    pub fn new(
        what: &'static str,
        response: reqwest::Response,
        limit: u64,
        deadline: Instant,
        limits: DownloadLimits,
    ) -> Result<Download, FetchError> {
        let declared = response.content_length();
        if let Some(declared) = declared.filter(|n| *n > limit) {
            return Err(FetchError::TooLarge { declared, limit });
        }
        let check = DocumentCheck::new(declared, declared_sha256(response.headers()));
        Ok(Download {
            what,
            response,
            deadline,
            stall: limits.stall,
            throughput: Throughput::new(&limits, Instant::now()),
            check,
        })
    }

    /// What is stored: a PDF (the signature is checked, whatever the
    /// answer's `Content-Type` says).
    pub fn content_type(&self) -> &'static str {
        "application/pdf"
    }

    fn observe(&mut self, n: usize) -> Result<(), FetchError> {
        self.throughput
            .observe(n, Instant::now())
            .map_err(|why| FetchError::TooSlow {
                what: self.what,
                why,
                received: self.check.received(),
            })
    }

    async fn read(&mut self) -> Result<Option<Bytes>, FetchError> {
        let now = Instant::now();
        let (until, why) = if now + self.stall < self.deadline {
            (now + self.stall, SlowDownload::Stalled)
        } else {
            (self.deadline, SlowDownload::Deadline)
        };
        match tokio::time::timeout_at(until, self.response.chunk()).await {
            Err(_) => Err(FetchError::TooSlow {
                what: self.what,
                why,
                received: self.check.received(),
            }),
            Ok(read) => read.map_err(|e| transport(self.what, e)),
        }
    }
}

impl store::archive::ChunkSource for Download {
    type Error = FetchError;

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        loop {
            let Some(chunk) = self.read().await? else {
                self.check.finish().map_err(FetchError::from)?;
                return Ok(None);
            };
            let n = chunk.len();
            if let Some(out) = self.check.push(chunk)? {
                self.observe(n)?;
                return Ok(Some(out));
            }
            self.observe(n)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_judged_per_window() {
        let limits = DownloadLimits {
            stall: Duration::from_secs(5),
            window: Duration::from_secs(10),
            min_bytes_per_window: 100,
        };
        let t0 = Instant::now();
        let mut t = Throughput::new(&limits, t0);
        // One byte every 3 s: the first window ends short.
        assert_eq!(t.observe(1, t0 + Duration::from_secs(3)), Ok(()));
        assert_eq!(t.observe(1, t0 + Duration::from_secs(6)), Ok(()));
        assert_eq!(t.observe(1, t0 + Duration::from_secs(9)), Ok(()));
        assert_eq!(
            t.observe(1, t0 + Duration::from_secs(12)),
            Err(SlowDownload::Throughput)
        );
        // Enough per window, however it is split, passes.
        let mut t = Throughput::new(&limits, t0);
        for s in 1..=30 {
            assert_eq!(t.observe(10, t0 + Duration::from_secs(s)), Ok(()), "{s}");
        }
    }
}
