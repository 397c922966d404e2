//! Local-stack tooling: `contract-hooks dev` and what it starts (the SpotDraft
//! stand-in, the bus tail), the Lambda test events of `events`, and the load
//! driver of `load`. Nothing here talks to a real provider or a deployment.
//! Operator commands against a deployment live in `crate::ops`.

pub mod bus_tail;
pub mod dev;
pub mod events;
pub mod load;
pub mod spotdraft_standin;
