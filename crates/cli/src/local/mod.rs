//! Local-stack tooling (`contract-hooks dev` and what it starts): nothing here
//! talks to a real provider or a deployment. Operator commands against a
//! deployment live in `ops` (`ops.rs` and `ops/`).

pub mod bus_tail;
pub mod spotdraft_standin;
