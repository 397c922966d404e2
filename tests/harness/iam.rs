//! Every AWS call a function makes in the tests, checked against that
//! function's role in `template.yaml` (issue 21): moto enforces no IAM, so
//! without this a missing grant shows only on AWS.
//!
//! A function's clients go through a recording [`FaultProxy`]
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use iam_rs::{Arn, Decision, IAMPolicy, IAMRequest, PolicyEvaluator, Principal, PrincipalId};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

use crate::cfn::{at, evaluate, parameter_values, render, show, template};
use crate::faults::{FaultProxy, Recorded};

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

/// One authorization AWS makes for a call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Authorization {
    /// `service:Action`.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// The call, for messages (`PUT /bucket/key?tagging&versionId=…`).
    pub call: String,
}

impl std::fmt::Display for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {} ({})", self.action, self.resource, self.call)
    }
}

/// The credential scope of a SigV4 `Authorization` header: (region, service).
fn scope(authorization: Option<&str>) -> Option<(String, String)> {
    let credential = authorization?.split("Credential=").nth(1)?;
    let credential = credential.split([',', ' ']).next()?;
    let parts: Vec<&str> = credential.split('/').collect();
    (parts.len() == 5).then(|| (parts[2].to_owned(), parts[3].to_owned()))
}

/// `%XX` sequences decoded (an S3 key in a request path).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What AWS authorizes for `call`: one or more (action, resource) pairs, or
/// why the call is not understood (a new kind of call must be mapped here
/// before its tests pass).
pub fn authorizations(call: &Recorded) -> Result<Vec<Authorization>, String> {
    let (region, service) = scope(call.authorization.as_deref())
        .ok_or_else(|| format!("{} {}: no SigV4 credential scope", call.method, call.target))?;
    match &call.amz_target {
        Some(target) => json_protocol(target, &call.body, &region),
        None if service == "s3" => s3(&call.method, &call.target, call.status),
        None => Err(format!(
            "{} {} ({service}): not a call this checker knows",
            call.method, call.target
        )),
    }
}

/// DynamoDB, SQS, Secrets Manager and EventBridge: `X-Amz-Target` names the
/// operation, the JSON body the resource.
fn json_protocol(target: &str, body: &[u8], region: &str) -> Result<Vec<Authorization>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("{target}: body: {e}"))?;
    let (prefix, op) = target
        .split_once('.')
        .ok_or_else(|| format!("X-Amz-Target {target}"))?;
    let field = |name: &str| {
        body[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{target}: no {name} in the body"))
    };
    let one = |action: String, resource: String| {
        Ok(vec![Authorization {
            action,
            resource,
            call: target.to_owned(),
        }])
    };
    match prefix {
        "DynamoDB_20120810" => {
            let table = format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/");
            match op {
                "BatchGetItem" | "BatchWriteItem" => {
                    let tables = body["RequestItems"]
                        .as_object()
                        .ok_or_else(|| format!("{target}: no RequestItems"))?;
                    Ok(tables
                        .keys()
                        .map(|t| Authorization {
                            action: format!("dynamodb:{op}"),
                            resource: format!("{table}{t}"),
                            call: target.to_owned(),
                        })
                        .collect())
                }
                "TransactWriteItems" | "TransactGetItems" => {
                    Err(format!("{target}: transactions are not mapped yet"))
                }
                _ => {
                    let mut resource = format!("{table}{}", field("TableName")?);
                    if let Some(index) = body["IndexName"].as_str() {
                        resource = format!("{resource}/index/{index}");
                    }
                    one(format!("dynamodb:{op}"), resource)
                }
            }
        }
        "AmazonSQS" => {
            // The batch calls are authorized as their single forms.
            let action = op.strip_suffix("Batch").unwrap_or(op);
            let queue = match op {
                "GetQueueUrl" | "CreateQueue" => field("QueueName")?,
                _ => {
                    let url = field("QueueUrl")?;
                    let mut parts = url.trim_end_matches('/').rsplit('/');
                    let name = parts.next().unwrap_or_default().to_owned();
                    let account = parts.next().unwrap_or_default();
                    if account != ACCOUNT {
                        return Err(format!("{target}: queue URL {url} names no account"));
                    }
                    name
                }
            };
            one(
                format!("sqs:{action}"),
                format!("arn:aws:sqs:{region}:{ACCOUNT}:{queue}"),
            )
        }
        "secretsmanager" => {
            let id = field("SecretId")?;
            if !id.starts_with("arn:") {
                // By name, AWS authorizes the secret's full ARN (name plus a
                // random suffix), which the request does not show.
                return Err(format!(
                    "{target}: secret {id} named by name, not ARN; the functions use ARNs"
                ));
            }
            one(format!("secretsmanager:{op}"), id)
        }
        "AWSEvents" if op == "PutEvents" => {
            let entries = body["Entries"]
                .as_array()
                .ok_or_else(|| format!("{target}: no Entries"))?;
            let buses: BTreeSet<String> = entries
                .iter()
                .map(|e| {
                    let bus = e["EventBusName"].as_str().unwrap_or("default");
                    if bus.starts_with("arn:") {
                        bus.to_owned()
                    } else {
                        format!("arn:aws:events:{region}:{ACCOUNT}:event-bus/{bus}")
                    }
                })
                .collect();
            Ok(buses
                .into_iter()
                .map(|resource| Authorization {
                    action: "events:PutEvents".into(),
                    resource,
                    call: target.to_owned(),
                })
                .collect())
        }
        _ => Err(format!("{target}: not a call this checker knows")),
    }
}

/// S3 REST, path-style (`/bucket/key?query`): the action depends on the
/// method, the sub-resource in the query, and whether a `versionId` is named.
fn s3(method: &str, target: &str, status: Option<u16>) -> Result<Vec<Authorization>, String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // `x-id` is the SDK's note of the operation's name, not a sub-resource.
    let params: BTreeSet<&str> = query
        .split('&')
        .map(|p| p.split('=').next().unwrap_or(p))
        .filter(|p| !p.is_empty() && *p != "x-id")
        .collect();
    let has = |p: &str| params.contains(p);
    let path = path.trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (bucket, Some(percent_decode(key))),
        _ => (path.trim_end_matches('/'), None),
    };
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let call = format!(
        "{method} /{path}{}",
        if query.is_empty() { "" } else { "?" }
    ) + query;
    let version = has("versionId");
    // With a `versionId`, S3 authorizes the call as its `Version` action.
    let versioned = |plain: &str| -> String {
        if !version {
            return plain.to_owned();
        }
        match plain {
            "s3:GetObject" => "s3:GetObjectVersion",
            "s3:GetObjectTagging" => "s3:GetObjectVersionTagging",
            "s3:PutObjectTagging" => "s3:PutObjectVersionTagging",
            "s3:DeleteObject" => "s3:DeleteObjectVersion",
            "s3:DeleteObjectTagging" => "s3:DeleteObjectVersionTagging",
            other => other,
        }
        .to_owned()
    };
    let action = match (method, &key) {
        (_, None) => match method {
            "GET" if has("uploads") => "s3:ListBucketMultipartUploads",
            "GET" if has("versions") => "s3:ListBucketVersions",
            "GET" if has("versioning") => "s3:GetBucketVersioning",
            "GET" if has("location") => "s3:GetBucketLocation",
            "GET" | "HEAD" if params.iter().all(|p| LIST_PARAMS.contains(p)) => "s3:ListBucket",
            "PUT" if has("versioning") => "s3:PutBucketVersioning",
            "PUT" if params.is_empty() => "s3:CreateBucket",
            "POST" if has("delete") => "s3:DeleteObject",
            _ => return Err(format!("{call}: not a bucket call this checker knows")),
        }
        .to_owned(),
        (_, Some(_)) => match method {
            "GET" if has("tagging") => versioned("s3:GetObjectTagging"),
            "GET" if has("uploadId") => "s3:ListMultipartUploadParts".into(),
            "GET" | "HEAD" if params.iter().all(|p| OBJECT_READ_PARAMS.contains(p)) => {
                versioned("s3:GetObject")
            }
            "PUT" if has("tagging") => versioned("s3:PutObjectTagging"),
            // PutObject, and UploadPart (`?partNumber&uploadId`).
            "PUT" if params.is_empty() || (has("partNumber") && has("uploadId")) => {
                "s3:PutObject".into()
            }
            // CreateMultipartUpload (`?uploads`), CompleteMultipartUpload (`?uploadId`).
            "POST" if has("uploads") || has("uploadId") => "s3:PutObject".into(),
            "DELETE" if has("uploadId") => "s3:AbortMultipartUpload".into(),
            "DELETE" if has("tagging") => versioned("s3:DeleteObjectTagging"),
            "DELETE" if params.iter().all(|p| *p == "versionId") => versioned("s3:DeleteObject"),
            _ => return Err(format!("{call}: not an object call this checker knows")),
        },
    };
    let resource = match &key {
        Some(key) => format!("{bucket_arn}/{key}"),
        None => bucket_arn.clone(),
    };
    let mut out = vec![Authorization {
        action,
        resource,
        call: call.clone(),
    }];
    // A missing key answers 404 only to a caller allowed to list the bucket;
    // to anyone else it is 403, which the archiver would take for a failure.
    if key.is_some() && matches!(method, "GET" | "HEAD") && status == Some(404) {
        out.push(Authorization {
            action: "s3:ListBucket".into(),
            resource: bucket_arn,
            call: format!("{call} answered 404"),
        });
    }
    Ok(out)
}

/// Query parameters of a bucket listing (ListObjects, ListObjectsV2).
const LIST_PARAMS: [&str; 9] = [
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
];

/// Query parameters of GetObject / HeadObject that change no authorization
/// (besides `versionId`, handled apart).
const OBJECT_READ_PARAMS: [&str; 7] = [
    "versionId",
    "partNumber",
    "response-content-type",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-cache-control",
];

/// The names a test stack named `name` gives the template's resources (what
/// `Stack`, the archiver's test stack and [`crate::subscribe_to_bus`] create),
/// in the harness's region and moto's account.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The stack's name prefix (`Stack::name`).
    pub name: String,
}

impl Deployed {
    /// What `!Ref X` / `!GetAtt X.Attr` / `${X}` yields for the test stack.
    pub fn value(&self, reference: &str, params: &BTreeMap<String, String>) -> String {
        let n = &self.name;
        let secret = |suffix: &str| {
            // Secrets Manager appends "-" and six random characters to the name.
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{n}-{suffix}-??????")
        };
        let table = |t: &str| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{n}-{t}");
        let queue = |q: &str| format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{n}-{q}");
        match reference {
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => n.clone(),
            "EventsTable" => format!("{n}-events"),
            "EventsTable.Arn" => table("events"),
            "StatusTable" => format!("{n}-status"),
            "StatusTable.Arn" => table("status"),
            "EventQueue.Arn" => queue("queue"),
            "DeadLetterQueue.Arn" => queue("queue-dlq"),
            "ArchiveQueue.Arn" => queue("archive"),
            "ArchiveDeadLetterQueue.Arn" => queue("archive-dlq"),
            "EventBus" => format!("{n}-bus"),
            "EventBus.Arn" => format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{n}-bus"),
            "ArchiveBucket" => format!("{n}-documents"),
            "ArchiveBucket.Arn" => format!("arn:aws:s3:::{n}-documents"),
            "WebhookSecrets" => secret("webhook-secrets"),
            "SpotDraftApiCredentials" => secret("spotdraft-api-credentials"),
            "SubnotoApiCredentials" => secret("subnoto-api-credentials"),
            "DocuSignApiCredentials" => secret("docusign-api-credentials"),
            log if log.ends_with("LogGroup.Arn") => format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{n}-{}:*",
                log.trim_end_matches("LogGroup.Arn").to_lowercase()
            ),
            other => params
                .get(other)
                .cloned()
                .unwrap_or_else(|| panic!("no test-stack value for {other}")),
        }
    }
}

/// A role's policies as deployed for a test stack, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Role {
    function: Function,
    /// The policy documents, resolved (JSON as IAM reads it).
    pub documents: Vec<Value>,
}

fn parsed_template() -> &'static Yaml {
    static TEMPLATE: OnceLock<Yaml> = OnceLock::new();
    TEMPLATE.get_or_init(template)
}

impl Role {
    /// `function`'s role from `template.yaml`, parameters at their defaults
    /// except `overrides`, for the test stack `deployed`.
    pub fn of(function: Function, deployed: &Deployed, overrides: &[(&str, &str)]) -> Role {
        Role::from_template(parsed_template(), function, deployed, overrides)
    }

    /// Same, from another template (a test's variant of the real one).
    pub fn from_template(
        t: &Yaml,
        function: Function,
        deployed: &Deployed,
        overrides: &[(&str, &str)],
    ) -> Role {
        let params = parameter_values(t, overrides);
        let rendered = render(t, overrides, None);
        let lookup = |name: &str| deployed.value(name, &params);
        let role = at(&rendered, &["Resources", function.role(), "Properties"]);
        let list = |v: &Yaml, f: &dyn Fn(&Yaml) -> String| match v {
            Yaml::Sequence(items) => items.iter().map(f).collect::<Vec<_>>(),
            other => vec![f(other)],
        };
        let documents = at(role, &["Policies"])
            .as_sequence()
            .expect("Policies is a list")
            .iter()
            .map(|policy| {
                let statements: Vec<Value> = at(policy, &["PolicyDocument", "Statement"])
                    .as_sequence()
                    .expect("Statement is a list")
                    .iter()
                    .map(|s| {
                        for unhandled in ["Condition", "NotAction", "NotResource"] {
                            assert!(
                                s.get(unhandled).is_none(),
                                "{}: {unhandled} is not rendered by the role check",
                                function.role()
                            );
                        }
                        json!({
                            "Sid": s.get("Sid").map(show),
                            "Effect": show(at(s, &["Effect"])),
                            "Action": list(at(s, &["Action"]), &show),
                            "Resource": list(at(s, &["Resource"]), &|r| evaluate(r, &lookup)),
                        })
                    })
                    .map(|mut s| {
                        if s["Sid"].is_null() {
                            s.as_object_mut().unwrap().remove("Sid");
                        }
                        s
                    })
                    .collect();
                json!({"Version": "2012-10-17", "Statement": statements})
            })
            .collect();
        Role {
            function,
            documents,
        }
    }

    /// The same role with `action` removed from every statement (a test of
    /// the checker: the role as it was before a grant was added).
    pub fn without(mut self, action: &str) -> Role {
        for doc in &mut self.documents {
            for s in doc["Statement"].as_array_mut().unwrap() {
                s["Action"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|a| !a.as_str().unwrap().eq_ignore_ascii_case(action));
            }
            doc["Statement"]
                .as_array_mut()
                .unwrap()
                .retain(|s| !s["Action"].as_array().unwrap().is_empty());
        }
        self
    }

    fn evaluator(&self) -> PolicyEvaluator {
        PolicyEvaluator::with_policies(
            self.documents
                .iter()
                .map(|d| IAMPolicy::from_json(&d.to_string()).expect("a rendered policy parses"))
                .collect(),
        )
    }

    /// Whether the role allows `auth`.
    pub fn allows(&self, auth: &Authorization) -> bool {
        self.decide(&self.evaluator(), auth) == Decision::Allow
    }

    fn decide(&self, evaluator: &PolicyEvaluator, auth: &Authorization) -> Decision {
        let principal = Principal::Aws(PrincipalId::String(format!(
            "arn:aws:iam::{ACCOUNT}:role/{}",
            self.function.role()
        )));
        let resource = Arn::parse(&auth.resource)
            .unwrap_or_else(|e| panic!("{auth}: the resource is not an ARN: {e:?}"));
        evaluator
            .evaluate(&IAMRequest::new(principal, &auth.action, resource))
            .unwrap_or_else(|e| panic!("{auth}: evaluation failed: {e}"))
            .decision
    }

    /// Checks every call: `Ok` with the distinct authorizations made, or
    /// `Err` naming each call the role does not allow or that is not
    /// understood.
    pub fn check(&self, calls: &[Recorded]) -> Result<BTreeSet<Authorization>, String> {
        let evaluator = self.evaluator();
        let mut allowed = BTreeSet::new();
        let mut refused = BTreeSet::new();
        for call in calls {
            match authorizations(call) {
                Ok(auths) => {
                    for auth in auths {
                        if self.decide(&evaluator, &auth) == Decision::Allow {
                            allowed.insert(auth);
                        } else {
                            refused.insert(format!("{} refused: {auth}", self.function.name()));
                        }
                    }
                }
                Err(why) => {
                    refused.insert(format!("{}: {why}", self.function.name()));
                }
            }
        }
        if refused.is_empty() {
            Ok(allowed)
        } else {
            Err(format!(
                "{} ({} in template.yaml) made calls its role does not allow:\n  {}",
                self.function.name(),
                self.function.role(),
                refused.into_iter().collect::<Vec<_>>().join("\n  ")
            ))
        }
    }
}

/// A function's AWS traffic, recorded: give the function clients whose
/// endpoint is [`RoleRecorder::endpoint`], then [`RoleRecorder::check`].
#[derive(Debug, Clone)]
pub struct RoleRecorder {
    /// The function whose calls go through.
    pub function: Function,
    proxy: Arc<FaultProxy>,
}

impl RoleRecorder {
    /// A recorder in front of moto, on the harness's own runtime (so it
    /// outlives the runtime of the test that started it).
    pub fn start(function: Function) -> RoleRecorder {
        RoleRecorder {
            function,
            proxy: Arc::new(FaultProxy::start_detached(&crate::moto().endpoint)),
        }
    }

    /// The endpoint to give the function's clients.
    pub fn endpoint(&self) -> &str {
        self.proxy.endpoint()
    }

    /// Everything the function asked so far.
    pub fn calls(&self) -> Vec<Recorded> {
        self.proxy.recorded()
    }

    /// Checks every call so far against the function's role for `deployed`.
    pub fn check(&self, deployed: &Deployed) -> Result<BTreeSet<Authorization>, String> {
        Role::of(self.function, deployed, &[]).check(&self.calls())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, target: &str, amz: Option<&str>, body: Value, service: &str) -> Recorded {
        Recorded {
            method: method.into(),
            target: target.into(),
            amz_target: amz.map(str::to_owned),
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
            )),
            body: if amz.is_some() {
                body.to_string().into_bytes()
            } else {
                Vec::new()
            },
            status: Some(200),
            function: None,
        }
    }

    fn s3_call(method: &str, target: &str) -> (String, String) {
        let a = authorizations(&call(method, target, None, Value::Null, "s3")).unwrap();
        assert_eq!(a.len(), 1, "{a:?}");
        (a[0].action.clone(), a[0].resource.clone())
    }

    #[test]
    fn s3_calls_are_authorized_as_the_reference_says() {
        let obj = "arn:aws:s3:::b/k/1.pdf";
        let cases = [
            ("GET", "/b/k/1.pdf?x-id=GetObject", "s3:GetObject"),
            (
                "GET",
                "/b/k/1.pdf?versionId=v1&x-id=GetObject",
                "s3:GetObjectVersion",
            ),
            (
                "GET",
                "/b/k/1.pdf?partNumber=1&versionId=v1",
                "s3:GetObjectVersion",
            ),
            ("HEAD", "/b/k/1.pdf", "s3:GetObject"),
            ("HEAD", "/b/k/1.pdf?versionId=v1", "s3:GetObjectVersion"),
            ("GET", "/b/k/1.pdf?tagging", "s3:GetObjectTagging"),
            (
                "GET",
                "/b/k/1.pdf?tagging&versionId=v1",
                "s3:GetObjectVersionTagging",
            ),
            ("PUT", "/b/k/1.pdf?tagging", "s3:PutObjectTagging"),
            (
                "PUT",
                "/b/k/1.pdf?tagging&versionId=v1",
                "s3:PutObjectVersionTagging",
            ),
            ("PUT", "/b/k/1.pdf?x-id=PutObject", "s3:PutObject"),
            (
                "POST",
                "/b/k/1.pdf?uploads&x-id=CreateMultipartUpload",
                "s3:PutObject",
            ),
            (
                "PUT",
                "/b/k/1.pdf?x-id=UploadPart&partNumber=1&uploadId=u",
                "s3:PutObject",
            ),
            ("POST", "/b/k/1.pdf?uploadId=u", "s3:PutObject"),
            ("DELETE", "/b/k/1.pdf?uploadId=u", "s3:AbortMultipartUpload"),
            (
                "DELETE",
                "/b/k/1.pdf?versionId=v1",
                "s3:DeleteObjectVersion",
            ),
            ("DELETE", "/b/k/1.pdf", "s3:DeleteObject"),
        ];
        for (method, target, action) in cases {
            assert_eq!(
                s3_call(method, target),
                (action.to_owned(), obj.to_owned()),
                "{method} {target}"
            );
        }
        let bucket = "arn:aws:s3:::b".to_owned();
        assert_eq!(
            s3_call("GET", "/b?list-type=2&prefix=k%2F"),
            ("s3:ListBucket".into(), bucket.clone())
        );
        assert_eq!(
            s3_call("GET", "/b?uploads"),
            ("s3:ListBucketMultipartUploads".into(), bucket.clone())
        );
        assert_eq!(
            s3_call("GET", "/b?versions&prefix=k"),
            ("s3:ListBucketVersions".into(), bucket)
        );
        // Keys are decoded.
        assert_eq!(s3_call("GET", "/b/a%20b.pdf").1, "arn:aws:s3:::b/a b.pdf");
        // Unknown sub-resources are not guessed.
        assert!(authorizations(&call("GET", "/b/k?acl", None, Value::Null, "s3")).is_err());
        assert!(authorizations(&call("PUT", "/b?policy", None, Value::Null, "s3")).is_err());
    }

    #[test]
    fn a_head_answered_404_also_needs_list_bucket() {
        let mut head = call("HEAD", "/b/k", None, Value::Null, "s3");
        head.status = Some(404);
        let a = authorizations(&head).unwrap();
        assert_eq!(
            a.iter()
                .map(|a| (a.action.as_str(), a.resource.as_str()))
                .collect::<Vec<_>>(),
            [
                ("s3:GetObject", "arn:aws:s3:::b/k"),
                ("s3:ListBucket", "arn:aws:s3:::b")
            ]
        );
    }

    #[test]
    fn json_protocol_calls_name_their_resource() {
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/t";
        let q = authorizations(&call(
            "POST",
            "/",
            Some("DynamoDB_20120810.Query"),
            json!({"TableName": "t", "IndexName": "pending-index"}),
            "dynamodb",
        ))
        .unwrap();
        assert_eq!(q[0].action, "dynamodb:Query");
        assert_eq!(q[0].resource, format!("{table}/index/pending-index"));
        let u = authorizations(&call(
            "POST",
            "/",
            Some("DynamoDB_20120810.UpdateItem"),
            json!({"TableName": "t"}),
            "dynamodb",
        ))
        .unwrap();
        assert_eq!(u[0].resource, table);
        let s = authorizations(&call(
            "POST",
            "/",
            Some("AmazonSQS.SendMessageBatch"),
            json!({"QueueUrl": "http://127.0.0.1:5000/123456789012/q-dlq"}),
            "sqs",
        ))
        .unwrap();
        assert_eq!(
            (s[0].action.as_str(), s[0].resource.as_str()),
            (
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:123456789012:q-dlq"
            )
        );
        let e = authorizations(&call(
            "POST",
            "/",
            Some("AWSEvents.PutEvents"),
            json!({"Entries": [{"EventBusName": "bus"}, {"EventBusName": "bus"}, {}]}),
            "events",
        ))
        .unwrap();
        assert_eq!(
            e.iter().map(|a| a.resource.as_str()).collect::<Vec<_>>(),
            [
                "arn:aws:events:us-east-1:123456789012:event-bus/bus",
                "arn:aws:events:us-east-1:123456789012:event-bus/default"
            ]
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf";
        let g = authorizations(&call(
            "POST",
            "/",
            Some("secretsmanager.GetSecretValue"),
            json!({"SecretId": arn}),
            "secretsmanager",
        ))
        .unwrap();
        assert_eq!(g[0].resource, arn);
        assert!(authorizations(&call(
            "POST",
            "/",
            Some("secretsmanager.GetSecretValue"),
            json!({"SecretId": "by-name"}),
            "secretsmanager",
        ))
        .is_err());
    }
}
