//! GitHub's runner protocol: what makes `hrun` a drop-in for GitHub's self-hosted runner.
//!
//! - [`message`]: the job message, decoded into the engine's job description.
//! - [`identity`]: the runner's identity and key on disk (`.runner`, `.credentials`,
//!   `.credentials_rsaparams`, mode 0600), and just-in-time configurations.
//! - [`registration`]: `runner-registration`, runner groups, runner creation with the public
//!   key (runner-admin and pipelines flows), removal; [`app`] mints the token through an App.
//! - [`auth`]: the OAuth token from an RS256 client assertion.
//! - [`broker`]: the session and long poll for messages; [`run_service`]: acquire, renew and
//!   complete a job; [`results`]: step states and logs; [`jobs`]: one job from its message to
//!   its accepted completion (kept on disk until then); [`gate`]: the policy gate over a job;
//!   [`job_actions`]: its remote actions resolved through [`action_info`] (the job's action
//!   download endpoint), checked against their pins and fetched into the action store;
//!   [`worker`]: runs it through the engine.
//! - [`listener`]: `hrun run`'s loop: one job at a time, signals, `--ephemeral`.
//! - [`http`]: the one HTTP client, [`backoff`]: waits with jitter between retries.
//!
//! Nothing here runs a step: jobs are run by [`crate::engine`], through the same path as
//! `hrun exec`.

pub mod action_info;
pub mod app;
pub mod auth;
pub mod backoff;
pub mod broker;
pub mod gate;
pub mod http;
pub mod identity;
pub mod job_actions;
pub mod jobs;
pub mod listener;
pub mod message;
pub mod registration;
pub mod results;
pub mod run_service;
pub mod worker;

/// The version of GitHub's runner whose protocol hrun speaks, reported to GitHub (which refuses
/// runners it finds too old).
pub const RUNNER_VERSION: &str = "2.336.0";
