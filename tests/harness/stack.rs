//! A [`Stack`]: a fresh, uniquely named set of resources in moto, and the functions built on it.

use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use store::{AwsClients, Config};

use crate::{clients_via, iam, moto, sdk_config_for, secrets_json};

/// A fresh, uniquely named set of resources in moto.
///
/// Dropping it checks the calls of the functions it built against their roles
/// (see [`Stack::check_roles`]).
pub struct Stack {
    /// Name prefix of every resource.
    pub name: String,
    /// Clients pointing at moto.
    pub clients: AwsClients,
    /// Ledger table name.
    pub events_table: String,
    /// Status table name.
    pub status_table: String,
    /// Queue URL.
    pub queue_url: String,
    /// Dead-letter queue URL.
    pub dlq_url: String,
    /// The functions' own clients, each behind a recorder.
    roles: Vec<(iam::RoleRecorder, AwsClients)>,
    /// Refusals a test causes on purpose: (function, text in the resource).
    expected_refusals: Mutex<Vec<(iam::Function, String)>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // A test that already failed says why; a second panic would abort.
        if !std::thread::panicking() {
            if let Err(refused) = self.check_roles() {
                panic!("{refused}");
            }
        }
    }
}

impl Stack {
    /// Creates the tables and queues under a unique name.
    pub async fn new() -> Stack {
        let sdk = sdk_config_for(&moto().endpoint).await;
        let clients = AwsClients::new(&sdk);
        let name = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let events_table = format!("{name}-events");
        let status_table = format!("{name}-status");
        testkit::resources::create_ledger_table(&clients.dynamodb, &events_table)
            .await
            .unwrap();
        testkit::resources::create_status_table(&clients.dynamodb, &status_table)
            .await
            .unwrap();
        let (queue_url, dlq_url) =
            testkit::resources::create_queues(&clients.sqs, &format!("{name}-queue"))
                .await
                .unwrap();
        let mut roles = Vec::new();
        for function in [iam::Function::Ingest, iam::Function::Processor] {
            let recorder = iam::RoleRecorder::start(function);
            let clients = clients_via(recorder.endpoint()).await;
            roles.push((recorder, clients));
        }
        Stack {
            name,
            clients,
            events_table,
            status_table,
            queue_url,
            dlq_url,
            roles,
            expected_refusals: Mutex::new(Vec::new()),
        }
    }

    /// The clients [`Stack::ingest`] / [`Stack::processor`] give `function`:
    /// moto through a recorder whose calls [`Stack::check_roles`] checks.
    pub fn function_clients(&self, function: iam::Function) -> &AwsClients {
        &self
            .roles
            .iter()
            .find(|(r, _)| r.function == function)
            .unwrap_or_else(|| panic!("the stack builds no {}", function.name()))
            .1
    }

    /// The names this stack gives the template's resources.
    pub fn deployed(&self) -> iam::Deployed {
        iam::Deployed {
            name: self.name.clone(),
        }
    }

    /// Declares that `function` is pointed, on purpose, at a resource outside
    /// this stack whose ARN contains `resource`: its calls there are not held
    /// against the role (on AWS they would be refused, which is what such a
    /// test stands for: the resource is unusable).
    pub fn expect_refused(&self, function: iam::Function, resource: &str) {
        self.expected_refusals
            .lock()
            .unwrap()
            .push((function, resource.to_owned()));
    }

    /// Every call the functions made through [`Stack::function_clients`],
    /// checked against their roles: `Ok` with the authorizations made per
    /// function, or `Err` naming each call a role does not allow.
    pub fn check_roles(
        &self,
    ) -> Result<
        Vec<(
            iam::Function,
            std::collections::BTreeSet<iam::Authorization>,
        )>,
        String,
    > {
        let expected = self.expected_refusals.lock().unwrap().clone();
        let deployed = self.deployed();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (recorder, _) in &self.roles {
            let function = recorder.function;
            let outside: Vec<String> = expected
                .iter()
                .filter(|(f, _)| *f == function)
                .map(|(_, r)| r.clone())
                .collect();
            match iam::check_calls(function, recorder.calls(), &deployed, &outside) {
                Ok(auths) => out.push((function, auths)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors.join("\n"))
        }
    }

    /// The configuration the functions would read, plus `extra` variables.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut vars: std::collections::HashMap<String, String> = [
            ("EVENTS_TABLE", self.events_table.as_str()),
            ("STATUS_TABLE", self.status_table.as_str()),
            ("QUEUE_URL", self.queue_url.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if !extra.iter().any(|(k, _)| k.starts_with("WEBHOOK_SECRETS")) {
            vars.insert("WEBHOOK_SECRETS".into(), secrets_json());
        }
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
    }

    /// An ingest app over this stack (its calls checked against `IngestRole`).
    pub async fn ingest(&self, extra: &[(&str, &str)]) -> ingest::App {
        ingest::App::new(
            &self.config(extra),
            self.function_clients(iam::Function::Ingest),
        )
        .await
        .unwrap()
    }

    /// An ingest app over this stack using `clients` (e.g. [`clients_via`] a
    /// fault proxy); the error is the one the function's init would fail with.
    pub async fn ingest_with(
        &self,
        clients: &AwsClients,
        extra: &[(&str, &str)],
    ) -> Result<ingest::App, ingest::InitError> {
        ingest::App::new(&self.config(extra), clients).await
    }

    /// A processor app over this stack using `clients`.
    pub fn processor_with(&self, clients: &AwsClients, extra: &[(&str, &str)]) -> processor::App {
        processor::App::new(&self.config(extra), clients)
    }

    /// The ledger of this stack.
    pub fn ledger(&self) -> store::Ledger {
        store::Ledger::new(
            self.clients.dynamodb.clone(),
            &self.events_table,
            30,
            30_000,
        )
    }

    /// The status table of this stack, read with the test's own clients (not
    /// a function's: a test's reads are not the function's calls).
    pub fn status_table(&self) -> store::StatusTable {
        store::StatusTable::new(self.clients.dynamodb.clone(), &self.status_table)
    }

    /// Number of ledger items (scan).
    pub async fn ledger_count(&self) -> usize {
        let out = self
            .clients
            .dynamodb
            .scan()
            .table_name(&self.events_table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        out.count() as usize
    }

    /// Messages currently visible on `queue_url` (moto's count is exact).
    pub async fn queue_depth(&self, queue_url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes.unwrap_or_default();
        let get = |a: A| {
            attrs
                .get(&a)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        get(A::ApproximateNumberOfMessages) + get(A::ApproximateNumberOfMessagesNotVisible)
    }

    /// Receives (and deletes) every message on the event queue.
    pub async fn drain_queue(&self) -> Vec<store::QueueMessage> {
        self.drain_queue_raw()
            .await
            .iter()
            .map(|m| store::QueueMessage::from_json(&m.body).unwrap())
            .collect()
    }

    /// Receives (and deletes) every message on the event queue, bodies as sent.
    pub async fn drain_queue_raw(&self) -> Vec<RawMessage> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap();
            let messages = batch.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(RawMessage {
                    message_id: m.message_id().unwrap().to_owned(),
                    body: m.body().unwrap().to_owned(),
                });
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// A processor app over this stack, plus `extra` variables (its calls,
    /// the sweep's too, checked against `ProcessorRole`).
    pub fn processor(&self, extra: &[(&str, &str)]) -> processor::App {
        processor::App::new(
            &self.config(extra),
            self.function_clients(iam::Function::Processor),
        )
    }

    /// Every status item by key (scan), string sets sorted so that items
    /// compare by content.
    pub async fn status_items(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::HashMap<String, AttributeValue>> {
        let mut out = std::collections::BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .scan()
                .table_name(&self.status_table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for mut item in page.items.unwrap_or_default() {
                for value in item.values_mut() {
                    if let AttributeValue::Ss(set) = value {
                        set.sort();
                    }
                }
                let pk = item["pk"].as_s().unwrap().clone();
                out.insert(pk, item);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return out;
            }
        }
    }

    /// The status changes kept on status items until published
    /// (`unpublished#{event key}` attributes), as (item key, event key, status
    /// before), sorted.
    pub async fn kept_changes(&self) -> Vec<(String, String, String)> {
        let prefix = store::schema::attr::UNPUBLISHED_PREFIX;
        let mut out = Vec::new();
        for (pk, item) in self.status_items().await {
            for (name, value) in item {
                if let Some(event_key) = name.strip_prefix(prefix) {
                    out.push((
                        pk.clone(),
                        event_key.to_owned(),
                        value.as_s().unwrap().clone(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    /// Creates a Secrets Manager secret holding `json`; returns its ARN.
    pub async fn create_secret(&self, json: &str) -> String {
        self.clients
            .secrets
            .create_secret()
            .name(format!("{}-webhook-secrets", self.name))
            .secret_string(json)
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned()
    }

    /// Replaces the secret's value.
    pub async fn put_secret(&self, arn: &str, json: &str) {
        self.clients
            .secrets
            .put_secret_value()
            .secret_id(arn)
            .secret_string(json)
            .send()
            .await
            .unwrap();
    }
}

/// A queue message as received, before parsing.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// SQS message id.
    pub message_id: String,
    /// The body exactly as ingest sent it.
    pub body: String,
}
