use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts AWS operations (not retry attempts) made through the clients it is
/// attached to. Ingest logs it per request; tests use it to hold the hot path to
/// two calls.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<AtomicUsize>);

impl CallCounter {
    /// Operations started so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What one invocation or request cost: time since [`Meter::start`] and the AWS
/// operations made through the counted clients meanwhile. Lambda runs one
/// invocation at a time per execution environment and the functions do no
/// background AWS work, so the counter's difference is this invocation's calls.
#[derive(Debug, Clone)]
pub struct Meter {
    started: Instant,
    calls: CallCounter,
    calls_before: usize,
}

impl Meter {
    /// Starts measuring against `calls`.
    pub fn start(calls: &CallCounter) -> Meter {
        Meter {
            started: Instant::now(),
            calls: calls.clone(),
            calls_before: calls.get(),
        }
    }

    /// AWS operations (not retry attempts) made since [`Meter::start`].
    pub fn aws_calls(&self) -> usize {
        self.calls.get().saturating_sub(self.calls_before)
    }

    /// Milliseconds since [`Meter::start`], to the microsecond (the log lines'
    /// `latency_ms`).
    pub fn latency_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3
    }
}

/// The SDK clients, built once per cold start and cloned cheaply into adapters.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB (ledger, status table).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS (the event queue).
    pub sqs: aws_sdk_sqs::Client,
    /// Secrets Manager (webhook secrets).
    pub secrets: aws_sdk_secretsmanager::Client,
    /// EventBridge (the processor publishes contract events).
    pub events: aws_sdk_eventbridge::Client,
    /// AWS operations made through these clients.
    pub calls: CallCounter,
}

impl AwsClients {
    /// Timeouts well inside a webhook provider's patience and the function's own
    /// timeout: a hung dependency becomes a 503 the provider retries, not a
    /// gateway timeout. Each attempt may take 2 s, the whole operation 5 s.
    pub fn timeouts() -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(5))
            .build()
    }

    /// Standard retry mode (exponential backoff with jitter, throttling aware),
    /// three attempts in all.
    pub fn retries() -> RetryConfig {
        RetryConfig::standard().with_max_attempts(3)
    }

    /// Loads the SDK configuration from the environment (region, credentials,
    /// `AWS_ENDPOINT_URL` for a local emulator) with this project's timeouts and
    /// retries.
    pub async fn load_sdk_config() -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(Self::timeouts())
            .retry_config(Self::retries())
            .load()
            .await
    }

    /// Builds the three clients from one SDK configuration.
    pub fn new(sdk: &SdkConfig) -> Self {
        let calls = CallCounter::default();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        AwsClients {
            dynamodb,
            sqs,
            secrets,
            events,
            calls,
        }
    }
}
