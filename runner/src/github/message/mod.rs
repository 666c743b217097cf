//! The job message GitHub sends a runner, decoded into the engine's job description.
//!
//! [`JobRequest`] reads the message (`AgentJobRequestMessage`) with its two value encodings,
//! [`token`] (template tokens: values that may still hold expressions) and [`context_data`]
//! (the contexts GitHub computed); [`to_job_description`] turns it into the
//! [`crate::engine::job::JobDescription`] a local workflow job also becomes. Every error names its
//! place in the message (`$.steps[2].inputs.map[0].Value`); no input makes this panic, recurse
//! without bound or hang.

pub mod context_data;
pub mod job_request;
pub mod json;
pub mod to_job;
pub mod token;

#[cfg(test)]
mod tests;

pub use job_request::JobRequest;
pub use to_job::{to_job_description, DecodedJob};
