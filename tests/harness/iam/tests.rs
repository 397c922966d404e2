//! Unit tests of the request-to-authorization mapping.

use serde_json::{json, Value};

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
