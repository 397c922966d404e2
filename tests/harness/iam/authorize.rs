//! What AWS authorizes for a recorded call: the IAM action for the operation with its
//! parameters, and the resource ARN.

use std::collections::BTreeSet;

use serde_json::Value;

use super::ACCOUNT;
use crate::faults::Recorded;

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
