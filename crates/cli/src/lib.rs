//! The operator side of `contract-hooks`: sign, verify and send test webhooks
//! the way each provider does, and operate a deployment (status, recent,
//! replay, redrive, failed, archive, SpotDraft subscriptions). The binary's
//! `main` parses the command line and calls these modules; the local-stack
//! tooling (`contract-hooks-local`: dev, events, load) builds on them from its
//! own crate.

pub mod common;
pub mod devenv;
pub mod error;
pub mod input;
pub mod ops;
pub mod secrets;
pub mod send;
pub mod sign;
pub mod signing;
pub mod verify_cmd;
