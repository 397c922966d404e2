use std::error::Error as StdError;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes of a request the service refuses as invalid: no retry of the
/// same request can succeed (DynamoDB and EventBridge `ValidationException`,
/// SQS's invalid message, attribute and parameter codes).
const INVALID_REQUEST_CODES: &[&str] = &[
    "ValidationException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidMessageContents",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "MessageTooLong",
    "AWS.SimpleQueueService.InvalidMessageContents",
];

/// A dependency (DynamoDB, SQS, Secrets Manager, EventBridge) failed or
/// answered something unexpected. [`StoreError::Invalid`] is the one a retry
/// cannot fix; for the others a retry is safe (ingest answers 503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An AWS call failed (timeout, throttling, network, service error).
    #[error("{operation} failed: {message}")]
    Aws {
        /// The API operation, e.g. `DynamoDB.PutItem`.
        operation: &'static str,
        /// The SDK's error with its causes, never request data.
        message: String,
    },
    /// The service refused the request itself as invalid (a size, a
    /// character, a nesting limit): the same request fails every time, so it
    /// must never be answered with "retry" (503).
    #[error("{operation} refused the request as invalid: {message}")]
    Invalid {
        /// The API operation.
        operation: &'static str,
        /// The SDK's error with its causes, never request data.
        message: String,
    },
    /// A stored item or message is not in the expected shape.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// Classifies a failed AWS call: a request AWS refused as invalid (it would
    /// fail the same way again) or one a retry may fix.
    pub fn aws<E: StdError + ProvideErrorMetadata>(operation: &'static str, err: E) -> Self {
        let message = error_chain(&err);
        if err
            .code()
            .is_some_and(|c| INVALID_REQUEST_CODES.contains(&c))
        {
            StoreError::Invalid { operation, message }
        } else {
            StoreError::Aws { operation, message }
        }
    }

    /// A failure around an AWS call that carries no service error code (a
    /// body stream broken mid-read, a request that could not be built):
    /// treated as one a retry may fix.
    pub fn aws_other(operation: &'static str, err: impl StdError) -> Self {
        StoreError::Aws {
            operation,
            message: error_chain(&err),
        }
    }

    /// True when no retry of the same request can succeed.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, StoreError::Invalid { .. })
    }
}

/// An error and its sources on one line (`a: b: c`), each source left out
/// when its text is already in the line (SDK errors repeat their cause and
/// put the useful part deep).
pub fn error_chain(err: &dyn StdError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}
