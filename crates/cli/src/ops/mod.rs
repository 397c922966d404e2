//! What an operator runs against a deployment (or the local stack standing
//! in for one): `status`, `recent`, `replay`, `redrive`, `failed`, `archive` and the
//! `spotdraft` subscription commands. Nothing here starts or emulates
//! anything; the local-stack tooling is `contract-hooks-local` (crates/local).
//! Each command reads its settings and builds its clients once
//! ([`context::OpsContext`]) and reads or writes through the store's typed
//! adapters: no attribute names or raw SDK calls here.

pub mod archive;
pub mod context;
pub mod recent;
pub mod recovery;
pub mod spotdraft;
pub mod status;
