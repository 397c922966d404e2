//! Test and local-stack fixtures: one moto launcher ([`moto`]), SDK settings for
//! an emulator ([`sdk_config_for`]), the template's AWS resources created on it
//! ([`resources`]), and the Lambda test events read back ([`lambda_event`]).
//! Used by the integration tests and `contract-hooks-local`, never by a
//! deployed function.

pub mod lambda_event;
pub mod moto;
pub mod resources;

pub use moto::{MotoError, MotoServer};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use store::AwsClients;

/// SDK configuration for an emulator at `endpoint`: region us-east-1, dummy
/// credentials, and the functions' own timeouts and retries.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .timeout_config(AwsClients::timeouts())
        .retry_config(AwsClients::retries())
        .load()
        .await
}
