//! GitHub's runner protocol: what makes `hrun` a drop-in for GitHub's self-hosted runner.
//!
//! - [`message`]: the job message, decoded into the engine's job description.
//!
//! Nothing here runs a step: jobs are run by [`crate::engine`], through the same path as
//! `hrun exec`.

pub mod message;
