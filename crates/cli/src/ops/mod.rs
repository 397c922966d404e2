//! What an operator runs against a deployment (or the local stack standing
//! in for one): `status`, `recent`, `replay`, `redrive`, `failed`, `archive` and the
//! `spotdraft` subscription commands. Nothing here starts or emulates
//! anything; the local-stack tooling lives in `crate::local`.

pub mod archive;
pub mod recent;
pub mod recovery;
pub mod spotdraft;
pub mod status;
