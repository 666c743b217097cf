//! Picking the executor for `--sandbox none|namespace|microvm|auto` at run time.
//!
//! `auto` takes the strongest sandbox this host offers and says why it passed over a stronger
//! one. It never falls back to running on the host: that must be asked for with `none`.
//!
//! Must never: choose [`HostExecutor`] unless the user asked for `none`.

use std::str::FromStr;

use crate::{ExecError, Executor, HostExecutor, NamespaceExecutor, SandboxConfig};

/// The user's `--sandbox` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxChoice {
    /// Directly on the host.
    None,
    /// The namespace sandbox.
    Namespace,
    /// A microVM per job (not implemented yet).
    Microvm,
    /// The strongest available, never `none`.
    Auto,
}

impl FromStr for SandboxChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(SandboxChoice::None),
            "namespace" => Ok(SandboxChoice::Namespace),
            "microvm" => Ok(SandboxChoice::Microvm),
            "auto" => Ok(SandboxChoice::Auto),
            other => Err(format!(
                "unknown sandbox `{other}` (expected none, namespace, microvm or auto)"
            )),
        }
    }
}

/// The executor chosen, with the reasons any stronger one was passed over (to print).
pub struct Selected {
    /// The executor to run steps with.
    pub executor: Box<dyn Executor>,
    /// One line per sandbox that `auto` could not use, and why.
    pub fallbacks: Vec<String>,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("executor", &self.executor.name())
            .field("fallbacks", &self.fallbacks)
            .finish()
    }
}

const MICROVM_MISSING: &str = "the microVM executor is not implemented yet (issue #4)";

/// Builds the executor for `choice`; `config` describes the sandbox for `namespace` and `auto`.
/// For those, the job's sandbox is built here (a few milliseconds on the calling thread), which
/// is also the test that it works on this host.
pub fn select_executor(
    choice: SandboxChoice,
    config: SandboxConfig,
) -> Result<Selected, ExecError> {
    match choice {
        SandboxChoice::None => Ok(Selected {
            executor: Box::new(HostExecutor::new()),
            fallbacks: Vec::new(),
        }),
        SandboxChoice::Microvm => Err(ExecError::Unavailable {
            name: "microvm",
            reason: MICROVM_MISSING.to_owned(),
        }),
        SandboxChoice::Namespace => {
            // Building the job's sandbox here is also the availability test.
            let executor = NamespaceExecutor::new(config)?;
            executor
                .set_up_now()
                .map_err(|reason| ExecError::Unavailable {
                    name: "namespace",
                    reason,
                })?;
            Ok(Selected {
                executor: Box::new(executor),
                fallbacks: Vec::new(),
            })
        }
        SandboxChoice::Auto => {
            let mut fallbacks = vec![format!("microvm: {MICROVM_MISSING}")];
            let executor = NamespaceExecutor::new(config)?;
            match executor.set_up_now() {
                Ok(()) => Ok(Selected {
                    executor: Box::new(executor),
                    fallbacks,
                }),
                Err(reason) => {
                    fallbacks.push(format!("namespace: {reason}"));
                    Err(ExecError::Unavailable {
                        name: "auto",
                        reason: format!(
                            "no sandbox works on this host ({}); use --sandbox none to run \
                             steps directly on the host",
                            fallbacks.join("; ")
                        ),
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_choice_and_rejects_others() {
        assert_eq!("none".parse(), Ok(SandboxChoice::None));
        assert_eq!("namespace".parse(), Ok(SandboxChoice::Namespace));
        assert_eq!("microvm".parse(), Ok(SandboxChoice::Microvm));
        assert_eq!("auto".parse(), Ok(SandboxChoice::Auto));
        assert!("docker".parse::<SandboxChoice>().is_err());
    }

    #[test]
    fn microvm_is_reported_unavailable() {
        let r = select_executor(
            SandboxChoice::Microvm,
            SandboxConfig::new(Vec::<String>::new()),
        );
        assert!(matches!(
            r,
            Err(ExecError::Unavailable {
                name: "microvm",
                ..
            })
        ));
    }

    #[test]
    fn none_selects_the_host_executor() {
        let r = select_executor(
            SandboxChoice::None,
            SandboxConfig::new(Vec::<String>::new()),
        );
        assert_eq!(r.ok().map(|s| s.executor.name()), Some("none"));
    }
}
