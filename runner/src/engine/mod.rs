//! The job engine behind `hrun exec`: runs a workflow's jobs and steps with GitHub's semantics.
//!
//! How a run flows:
//!
//! 1. [`plan`] reads the workflow (and the reusable workflows and local actions it uses), refuses
//!    what cannot run before anything starts (docker actions, remote actions, job containers), and
//!    picks the jobs asked for.
//! 2. [`run`] schedules jobs in `needs` order, independent ones in parallel, evaluates each job's
//!    `if`, and turns each job that runs into a [`job::JobDescription`]: the one internal
//!    description of a job that a local workflow and (later) a job message from GitHub both
//!    produce.
//! 3. [`step`] runs a job's steps through a [`hermetic::Executor`] (the only way a process is
//!    started), with [`shell`] templates for `run:` steps, [`actions`] for local composite and
//!    node actions, [`files`] for `GITHUB_ENV`/`GITHUB_OUTPUT`/... and [`stream`] for the
//!    workflow commands in a step's output; [`contexts`] builds what expressions read;
//!    [`determinism`] gives every step `SOURCE_DATE_EPOCH`, `TZ`, the locale and a fixed
//!    hostname, and records them in the provenance.
//! 4. [`output`] prints the live log and writes each job's log file; [`result`] writes the
//!    `result.json` files; [`secret_scan`] searches step outputs, summaries and job outputs for
//!    secrets the masker does not know, records what the run-time sweeps of each step's
//!    processes found, and writes `secret-scan.json`; [`artifact_scan`] searches the job's
//!    artifacts before they leave the sandbox.
//!
//! Every byte the engine shows or stores passes through one [`SharedMasker`], which hides each
//! secret and each `::add-mask::` value (with their encodings).

pub mod action_steps;
pub mod actions;
pub mod artifact_scan;
mod call;
pub mod contexts;
pub mod determinism;
pub mod execute;
pub mod files;
pub mod job;
pub mod output;
pub mod plan;
pub mod process;
mod repo;
pub mod result;
pub mod run;
pub mod safe_dir;
mod schedule;
pub mod secret_scan;
pub mod shell;
pub mod step;
mod strategy;
pub mod stream;
pub mod vm;
pub mod workspace;

use std::sync::{Arc, RwLock};

use hermetic::mask::Masker;

/// The run's secret masker, shared by every job: secrets are registered before anything runs,
/// `::add-mask::` values as they are seen (a value hidden in one job is hidden in all, which
/// hides more than GitHub, never less).
#[derive(Clone, Default)]
pub struct SharedMasker(Arc<RwLock<Masker>>);

impl SharedMasker {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Masker> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Masker> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a secret (`--secret`, a secrets file).
    pub fn add_secret(&self, value: &str) {
        self.write().add_secret(value);
    }

    /// Registers an `::add-mask::` value.
    pub fn add_mask(&self, value: &str) {
        self.write().add_mask(value);
    }

    /// `text` with every registered value and its encodings replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let masker = self.read();
        if masker.is_empty() {
            return text.to_owned();
        }
        masker.mask_str(text)
    }

    /// A whole document (JSON, a summary): masked like [`SharedMasker::mask`].
    pub fn mask_document(&self, text: &str) -> String {
        self.mask(text)
    }

    /// Whether `text` holds a registered value or encoding.
    pub fn reveals(&self, text: &str) -> bool {
        let masker = self.read();
        !masker.is_empty() && masker.contains_secret(text.as_bytes())
    }
}

impl std::fmt::Debug for SharedMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedMasker").field(&*self.read()).finish()
    }
}
