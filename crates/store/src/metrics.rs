//! CloudWatch Embedded Metric Format (EMF): one JSON object per line on stdout,
//! which the Lambda log pipeline turns into metrics without any API call.
//! Pure apart from [`Metrics::emit`], which prints.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ContractHooks";
/// The dimension every metric carries: the function name.
pub const FUNCTION_DIMENSION: &str = "Function";
/// Where Lambda puts the function's name (the name `!Ref` of the function
/// yields in the template, unique per stack).
pub const FUNCTION_NAME_ENV: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The value of the `Function` dimension: the deployed function's name from
/// [`FUNCTION_NAME_ENV`], so two stacks in one account publish (and alarm on)
/// separate metrics; `fallback` (`ingest`, `processor`) where it is unset or
/// blank, as in tests and local runs. Read once per process.
pub fn function_name(fallback: &str) -> String {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    let from_env = NAME.get_or_init(|| std::env::var(FUNCTION_NAME_ENV).ok());
    function_name_from(from_env.as_deref(), fallback)
}

fn function_name_from(from_env: Option<&str>, fallback: &str) -> String {
    from_env
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}

/// A set of counters for one invocation or request, published under the
/// `Function` dimension (and, with [`Metrics::dimension`], also under
/// `Function` + that dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    function: String,
    extra: Option<(String, String)>,
    counts: Vec<(String, u64)>,
}

impl Metrics {
    /// Counters of the running function, published as [`function_name`]: the
    /// Lambda function's name, or `fallback` (`ingest`, `processor`) outside
    /// Lambda.
    pub fn new(fallback: &str) -> Self {
        Self::named(function_name(fallback))
    }

    /// Counters published with exactly `function` as the `Function` dimension.
    pub fn named(function: impl Into<String>) -> Self {
        Metrics {
            function: function.into(),
            extra: None,
            counts: Vec::new(),
        }
    }

    /// The `Function` dimension's value.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Also publishes every metric under `[Function, name]` with `name = value`
    /// (e.g. `Reason` = `unverified`).
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra = Some((name.into(), value.into()));
        self
    }

    /// Adds `value` to the counter `name`.
    pub fn count(&mut self, name: &str, value: u64) -> &mut Self {
        match self.counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = v.saturating_add(value),
            None => self.counts.push((name.to_owned(), value)),
        }
        self
    }

    /// The value of counter `name` (0 when never counted).
    pub fn get(&self, name: &str) -> u64 {
        self.counts
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The EMF document, stamped `timestamp_ms`.
    pub fn to_emf(&self, timestamp_ms: i64) -> Value {
        let mut dimensions = vec![json!([FUNCTION_DIMENSION])];
        let mut root = Map::new();
        root.insert(FUNCTION_DIMENSION.into(), json!(self.function));
        if let Some((name, value)) = &self.extra {
            dimensions.push(json!([FUNCTION_DIMENSION, name]));
            root.insert(name.clone(), json!(value));
        }
        let definitions: Vec<Value> = self
            .counts
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
            .collect();
        for (name, value) in &self.counts {
            root.insert(name.clone(), json!(value));
        }
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Prints the EMF line to stdout (where Lambda's log agent picks it up).
    /// Nothing is printed when nothing was counted.
    pub fn emit(&self) {
        if !self.is_empty() {
            println!("{}", self.to_emf(domain::now_ms()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_is_named_by_lambda_else_by_the_fallback() {
        let name = "contract-hooks-ProcessorFunction-a1B2c3D4e5F6";
        assert_eq!(function_name_from(Some(name), "processor"), name);
        assert_eq!(function_name_from(None, "processor"), "processor");
        assert_eq!(function_name_from(Some(" "), "processor"), "processor");
        assert_eq!(Metrics::named(name).to_emf(0)["Function"], name);
    }

    #[test]
    fn emf_document_has_the_cloudwatch_shape() {
        let mut m = Metrics::named("processor");
        m.count("processed", 3)
            .count("failed", 1)
            .count("processed", 2);
        let doc = m.to_emf(1_700_000_000_123);
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ContractHooks",
                        "Dimensions": [["Function"]],
                        "Metrics": [
                            {"Name": "processed", "Unit": "Count"},
                            {"Name": "failed", "Unit": "Count"}
                        ]
                    }]
                },
                "Function": "processor",
                "processed": 5,
                "failed": 1
            })
        );
        assert_eq!(m.get("processed"), 5);
        assert_eq!(m.get("requeued"), 0);
    }

    #[test]
    fn every_dimension_and_metric_named_has_a_value() {
        let mut m = Metrics::named("ingest").dimension("Reason", "unverified");
        m.count("rejected", 1);
        let doc = m.to_emf(1);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["Function"], ["Function", "Reason"]])
        );
        for set in directive["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                assert!(doc[dim.as_str().unwrap()].is_string(), "{dim}");
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(doc[metric["Name"].as_str().unwrap()].is_u64(), "{metric}");
        }
        assert_eq!(doc["Reason"], "unverified");
        // One line: a log line must not contain newlines.
        assert!(!doc.to_string().contains('\n'));
    }

    #[test]
    fn nothing_counted_is_empty() {
        assert!(Metrics::named("processor").is_empty());
    }
}
