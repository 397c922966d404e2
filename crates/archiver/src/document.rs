//! What a download must be before it becomes a version's document: a PDF
//! (`%PDF-` at the start), not empty, exactly its declared `Content-Length`,
//! and matching its declared SHA-256 (`x-amz-checksum-sha256` of a
//! single-part S3 object, or `Content-Digest: sha-256=:…:`) where one is given.
//!
//! [`DocumentCheck`] sees every chunk on its way to the bucket. It holds the
//! first chunks back until the signature is settled, so nothing reaches S3
//! before the start is known to be a PDF; the end checks run when the source
//! ends, before the upload is completed (a failing multipart upload is
//! aborted by `DocumentStore::upload`). A bad answer never gets the final key.

use base64::Engine;
use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};

/// The bytes a PDF starts with (ISO 32000 §7.5.2).
pub const PDF_SIGNATURE: &[u8] = b"%PDF-";

/// Why a download is not the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DocumentDefect {
    /// No bytes at all.
    #[error("the answer is empty")]
    Empty,
    /// It does not start with `%PDF-` (an HTML error page, JSON, …).
    #[error("the answer is not a PDF (no %PDF- signature)")]
    NotPdf,
    /// Fewer or more bytes than `Content-Length` declared.
    #[error("{received} bytes received, {declared} declared by Content-Length")]
    Length {
        /// Content-Length.
        declared: u64,
        /// Bytes read.
        received: u64,
    },
    /// The SHA-256 differs from the declared one.
    #[error("SHA-256 differs from the checksum the answer declared")]
    Checksum,
}

/// The checks of one download, fed chunk by chunk.
#[derive(Debug)]
pub struct DocumentCheck {
    declared_len: Option<u64>,
    expected_sha256: Option<[u8; 32]>,
    hasher: Option<Sha256>,
    held: BytesMut,
    started: bool,
    received: u64,
}

/// A declared SHA-256 from the answer's headers: `x-amz-checksum-sha256`
/// (base64; a multipart object's `…-N` composite is not a whole-object hash
/// and is ignored) or RFC 9530 `Content-Digest: sha-256=:base64:`.
pub fn declared_sha256(headers: &HeaderMap) -> Option<[u8; 32]> {
    let decode = |b64: &str| -> Option<[u8; 32]> {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?
            .try_into()
            .ok()
    };
    if let Some(v) = headers
        .get("x-amz-checksum-sha256")
        .and_then(|v| v.to_str().ok())
    {
        if !v.contains('-') {
            return decode(v);
        }
    }
    let digest = headers.get("content-digest")?.to_str().ok()?;
    digest.split(',').find_map(|d| {
        let (alg, value) = d.trim().split_once('=')?;
        (alg.trim().eq_ignore_ascii_case("sha-256"))
            .then(|| decode(value.trim().trim_matches(':')))
            .flatten()
    })
}

impl DocumentCheck {
    /// Checks against what the answer declared (length, SHA-256), if anything.
    pub fn new(declared_len: Option<u64>, expected_sha256: Option<[u8; 32]>) -> Self {
        DocumentCheck {
            declared_len,
            expected_sha256,
            hasher: expected_sha256.map(|_| Sha256::new()),
            held: BytesMut::new(),
            started: false,
            received: 0,
        }
    }

    /// Takes a chunk; answers what may go on to the bucket (`None` while the
    /// start is held back), or the defect.
    pub fn push(&mut self, chunk: Bytes) -> Result<Option<Bytes>, DocumentDefect> {
        self.received += chunk.len() as u64;
        if let Some(declared) = self.declared_len.filter(|d| self.received > *d) {
            return Err(DocumentDefect::Length {
                declared,
                received: self.received,
            });
        }
        if let Some(h) = &mut self.hasher {
            h.update(&chunk);
        }
        if self.started {
            return Ok(Some(chunk));
        }
        self.held.extend_from_slice(&chunk);
        if self.held.len() < PDF_SIGNATURE.len() {
            return Ok(None);
        }
        if !self.held.starts_with(PDF_SIGNATURE) {
            return Err(DocumentDefect::NotPdf);
        }
        self.started = true;
        Ok(Some(std::mem::take(&mut self.held).freeze()))
    }

    /// The source ended: the end checks.
    pub fn finish(&mut self) -> Result<(), DocumentDefect> {
        if self.received == 0 {
            return Err(DocumentDefect::Empty);
        }
        if !self.started {
            return Err(DocumentDefect::NotPdf);
        }
        if let Some(declared) = self.declared_len.filter(|d| self.received != *d) {
            return Err(DocumentDefect::Length {
                declared,
                received: self.received,
            });
        }
        if let (Some(h), Some(expected)) = (self.hasher.take(), self.expected_sha256) {
            if h.finalize().as_slice() != expected {
                return Err(DocumentDefect::Checksum);
            }
        }
        Ok(())
    }

    /// Bytes read so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn run(
        chunks: &[&[u8]],
        len: Option<u64>,
        sha: Option<[u8; 32]>,
    ) -> Result<Vec<u8>, DocumentDefect> {
        let mut check = DocumentCheck::new(len, sha);
        let mut out = Vec::new();
        for c in chunks {
            if let Some(b) = check.push(Bytes::copy_from_slice(c))? {
                out.extend_from_slice(&b);
            }
        }
        check.finish()?;
        Ok(out)
    }

    #[test]
    fn a_pdf_passes_whole_even_when_its_signature_is_split() {
        assert_eq!(run(&[b"%PDF-1.7\n"], None, None).unwrap(), b"%PDF-1.7\n");
        assert_eq!(
            run(&[b"%P", b"", b"DF", b"-1.4", b"rest"], Some(12), None).unwrap(),
            b"%PDF-1.4rest"
        );
        let mut check = DocumentCheck::new(None, None);
        assert_eq!(check.push(Bytes::from_static(b"%PD")), Ok(None));
        assert_eq!(
            check.push(Bytes::from_static(b"F-x")),
            Ok(Some(Bytes::from_static(b"%PDF-x")))
        );
    }

    #[test]
    fn other_answers_are_defects() {
        assert_eq!(run(&[], None, None), Err(DocumentDefect::Empty));
        assert_eq!(run(&[b""], Some(0), None), Err(DocumentDefect::Empty));
        assert_eq!(
            run(&[b"<!doctype html><html>"], None, None),
            Err(DocumentDefect::NotPdf)
        );
        assert_eq!(run(&[b"%PDF"], None, None), Err(DocumentDefect::NotPdf));
        assert_eq!(
            run(&[b" %PDF-1.7"], None, None),
            Err(DocumentDefect::NotPdf)
        );
        assert_eq!(
            run(&[b"%PDF-1.7"], Some(9), None),
            Err(DocumentDefect::Length {
                declared: 9,
                received: 8
            })
        );
        assert_eq!(
            run(&[b"%PDF-1.7", b"xx"], Some(9), None),
            Err(DocumentDefect::Length {
                declared: 9,
                received: 10
            })
        );
        let body = b"%PDF-1.7 body";
        let good: [u8; 32] = Sha256::digest(body).into();
        assert!(run(&[body], None, Some(good)).is_ok());
        assert_eq!(
            run(&[b"%PDF-1.7 bodY"], None, Some(good)),
            Err(DocumentDefect::Checksum)
        );
    }

    #[test]
    fn the_not_pdf_answer_is_refused_before_anything_is_passed_on() {
        let mut check = DocumentCheck::new(None, None);
        assert_eq!(check.push(Bytes::from_static(b"<ht")), Ok(None));
        assert_eq!(
            check.push(Bytes::from_static(b"ml>")),
            Err(DocumentDefect::NotPdf)
        );
    }

    #[test]
    fn declared_checksums_are_read_from_either_header() {
        let sha: [u8; 32] = Sha256::digest(b"x").into();
        let b64 = base64::engine::general_purpose::STANDARD.encode(sha);
        let mut h = HeaderMap::new();
        assert_eq!(declared_sha256(&h), None);
        h.insert(
            "x-amz-checksum-sha256",
            HeaderValue::from_str(&format!("{b64}-3")).unwrap(),
        );
        assert_eq!(
            declared_sha256(&h),
            None,
            "a multipart composite is not the hash"
        );
        h.insert(
            "x-amz-checksum-sha256",
            HeaderValue::from_str(&b64).unwrap(),
        );
        assert_eq!(declared_sha256(&h), Some(sha));
        let mut h = HeaderMap::new();
        h.insert(
            "content-digest",
            HeaderValue::from_str(&format!("md5=:AAAA:, sha-256=:{b64}:")).unwrap(),
        );
        assert_eq!(declared_sha256(&h), Some(sha));
        h.insert(
            "content-digest",
            HeaderValue::from_static("sha-256=:short:"),
        );
        assert_eq!(declared_sha256(&h), None);
    }
}
