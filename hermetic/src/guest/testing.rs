//! A machine for tests on the host: guest paths live under a temporary directory, steps run
//! unchrooted as a uid no one else uses, nothing is mounted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::machine::Machine;
pub(crate) use super::sweep::live_processes;
use crate::vm::protocol::{Failure, FailureKind, Setup};

/// Step uids for tests: high, unused on the host, distinct per test so that one test's "kill
/// every process of the step user" never reaches another test's step.
static NEXT_UID: AtomicU32 = AtomicU32::new(0);

/// A uid (and gid) no other test uses.
pub(crate) fn test_uid() -> u32 {
    200_000 + (std::process::id() % 100_000) * 64 + NEXT_UID.fetch_add(1, Ordering::Relaxed) % 64
}

/// Maps guest paths under `prefix`; records the Setup it got.
#[derive(Debug, Clone)]
pub(crate) struct DirMachine {
    pub prefix: PathBuf,
    pub setups: Arc<Mutex<Vec<Setup>>>,
    pub sealed: Arc<Mutex<Vec<PathBuf>>>,
}

impl DirMachine {
    pub(crate) fn new(prefix: &Path) -> Self {
        DirMachine {
            prefix: prefix.to_path_buf(),
            setups: Arc::default(),
            sealed: Arc::default(),
        }
    }
}

impl Machine for DirMachine {
    fn kernel_release(&self) -> String {
        "test-kernel".to_owned()
    }

    fn uptime_ms(&self) -> u64 {
        7
    }

    fn boot_notes(&self) -> Vec<String> {
        vec!["test machine".to_owned()]
    }

    fn setup(&mut self, setup: &Setup) -> Result<(), Failure> {
        if setup.hostname.is_empty() {
            return Err(Failure::new(FailureKind::Setup, "empty hostname"));
        }
        if let Ok(mut setups) = self.setups.lock() {
            setups.push(setup.clone());
        }
        Ok(())
    }

    fn resolve(&self, guest_path: &Path) -> PathBuf {
        self.prefix
            .join(guest_path.strip_prefix("/").unwrap_or(guest_path))
    }

    fn step_root(&self) -> Option<&Path> {
        None
    }

    fn seal_read_only(&mut self, resolved: &Path) -> Result<(), Failure> {
        if let Ok(mut sealed) = self.sealed.lock() {
            sealed.push(resolved.to_path_buf());
        }
        Ok(())
    }
}
