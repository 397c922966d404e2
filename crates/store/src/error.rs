use std::error::Error as StdError;

/// A dependency (DynamoDB, SQS, Secrets Manager) failed or answered something
/// unexpected. Callers answer 503: a retry is safe.
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
    pub(crate) fn aws(operation: &'static str, err: impl StdError) -> Self {
        StoreError::Aws {
            operation,
            message: error_chain(&err),
        }
    }
}

/// The error and its sources on one line (SDK errors put the useful part deep).
fn error_chain(err: &dyn StdError) -> String {
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
