//! Every AWS call a function makes in the tests, checked against that
//! function's role in `template.yaml` (issue 21): moto enforces no IAM, so
//! without this a missing grant shows only on AWS.
//!
//! A function's clients go through a recording [`FaultProxy`](crate::faults::FaultProxy)
//! ([`RoleRecorder`]). Each request it saw is turned into what AWS authorizes
//! for it ([`authorizations`]: the IAM action for that operation *with those
//! parameters*, per the Service Authorization Reference, and the resource ARN),
//! and evaluated against the role's policies ([`Role`]), rendered from the
//! template for the test stack: parameters at their defaults, `!If` decided,
//! `!Ref` / `!GetAtt` / `!Sub` resolved with the names the harness gives the
//! stack's tables, queues, bus, bucket and secrets ([`Deployed`]).
//!
//! Policy evaluation is `iam-rs`'s (explicit Deny over Allow, `*` and `?` in
//! actions and resource ARNs, actions case-insensitive); what this module adds
//! is the request-to-authorization mapping, which no library does for raw
//! HTTP. (moto's own `IAMPolicy` evaluator was not used: it turns `*` into a
//! regular expression without escaping, so `?` and `.` mean what they mean in
//! a regex, and it matches actions case-sensitively.)
//!
//! Not modelled: condition keys (no role has a `Condition`), resource-based
//! policies (the bucket policy only denies plain HTTP), headers that add an
//! authorization (`x-amz-tagging` on PutObject, `x-amz-copy-source`; the code
//! sends neither). The CLI's operator commands run with the operator's own
//! credentials, whose rights README lists in prose rather than as a policy:
//! they are not checked here.

mod authorize;
mod role;

pub use authorize::{authorizations, Authorization};
pub use role::{Deployed, Role, RoleRecorder};

use std::collections::{BTreeMap, BTreeSet};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::faults::Recorded;

/// The account moto answers for (its default).
pub const ACCOUNT: &str = "123456789012";
/// The region the harness's clients use.
pub const REGION: &str = "us-east-1";

/// A function of the stack, with its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    /// `IngestFunction`, `IngestRole`.
    Ingest,
    /// `ProcessorFunction` (queue batches and the sweep), `ProcessorRole`.
    Processor,
    /// `ArchiverFunction`, `ArchiverRole`.
    Archiver,
}

impl Function {
    /// The role's logical id in the template.
    pub fn role(self) -> &'static str {
        match self {
            Function::Ingest => "IngestRole",
            Function::Processor => "ProcessorRole",
            Function::Archiver => "ArchiverRole",
        }
    }

    /// Short name, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            Function::Ingest => "ingest",
            Function::Processor => "processor",
            Function::Archiver => "archiver",
        }
    }

    /// The function called [`Function::name`] `name`.
    pub fn from_name(name: &str) -> Option<Function> {
        [Function::Ingest, Function::Processor, Function::Archiver]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// The header [`FunctionTag`] sets: which function's clients sent a request.
pub const FUNCTION_HEADER: &str = "x-contract-hooks-test-function";

/// An interceptor naming the function on each request it sends (nothing when
/// `None`), for a proxy that several functions' clients share.
#[derive(Debug, Clone, Copy)]
pub struct FunctionTag(pub Option<Function>);

impl Intercept for FunctionTag {
    fn name(&self) -> &'static str {
        "FunctionTag"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(function) = self.0 {
            context
                .request_mut()
                .headers_mut()
                .insert(FUNCTION_HEADER, function.name());
        }
        Ok(())
    }
}

/// Calls recorded through one proxy by several functions' clients (made by
/// [`crate::function_clients_via`]), by function; an untagged call is an error
/// (a client the check cannot attribute).
pub fn by_function(calls: Vec<Recorded>) -> Result<BTreeMap<Function, Vec<Recorded>>, String> {
    let mut out: BTreeMap<Function, Vec<Recorded>> = BTreeMap::new();
    for call in calls {
        let function = call
            .function
            .as_deref()
            .and_then(Function::from_name)
            .ok_or_else(|| {
                format!(
                    "{} {} ({:?}) came from clients not made by function_clients_via: \
                     whose role to check it against is unknown",
                    call.method, call.target, call.amz_target
                )
            })?;
        out.entry(function).or_default().push(call);
    }
    Ok(out)
}

/// Every call of a proxy shared by functions' tagged clients ([`by_function`]),
/// checked against each one's role for `deployed`.
pub fn check_shared(calls: Vec<Recorded>, deployed: &Deployed) -> Result<(), String> {
    let mut errors = Vec::new();
    for (function, calls) in by_function(calls)? {
        if let Err(e) = check_calls(function, calls, deployed, &[]) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// `function`'s `calls` checked against its role for `deployed` (see
/// [`Role::check`]), leaving out the calls whose every authorization is on a
/// resource whose ARN contains one of `outside` (a test pointing the function
/// at a resource outside its stack on purpose).
pub fn check_calls(
    function: Function,
    calls: Vec<Recorded>,
    deployed: &Deployed,
    outside: &[String],
) -> Result<BTreeSet<Authorization>, String> {
    let off_stack =
        |auth: &Authorization| outside.iter().any(|r| auth.resource.contains(r.as_str()));
    let calls: Vec<Recorded> = calls
        .into_iter()
        .filter(|call| !authorizations(call).is_ok_and(|auths| auths.iter().all(off_stack)))
        .collect();
    Role::of(function, deployed, &[]).check(&calls)
}

#[cfg(test)]
mod tests;
