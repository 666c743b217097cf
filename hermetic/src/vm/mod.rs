//! The microVM backend: each job in a virtual machine of its own, driven through a guest agent.
//!
//! - [`protocol`]: the versioned, length-prefixed wire protocol between host and guest agent.
//! - [`sync`]: directory manifests and deltas, so the guest sees the host's directories at the
//!   same paths and the host gets back what steps changed.
//! - [`AgentClient`]: the host's end of the conversation with the agent (tokio).
//!
//! The agent itself (the guest's PID 1) lives in [`crate::guest`].

mod client;
pub mod protocol;
pub mod sync;

pub use client::{AgentClient, AgentError};
