//! The roles as deployed for a test stack, evaluated against recorded calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use iam_rs::{Arn, Decision, IAMPolicy, IAMRequest, PolicyEvaluator, Principal, PrincipalId};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

use super::{authorizations, Authorization, Function, ACCOUNT, REGION};
use crate::cfn::{at, evaluate, parameter_values, render, show, template};
use crate::faults::{FaultProxy, Recorded};

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
