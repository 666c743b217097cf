//! Picking the executor for `--sandbox none|namespace|microvm|auto` at run time.
//!
//! `auto` takes the strongest sandbox this host offers (a microVM when a guest image is present
//! and QEMU runs, else the namespace sandbox) and says why it passed over a stronger one. It never falls back to running on the host: that must be asked for with `none`.
//!
//! Must never: choose [`HostExecutor`] unless the user asked for `none`.

use std::str::FromStr;

use crate::vm::{MicroVmExecutor, MicroVmSetup, VmConfig, VmImage};
use crate::{ExecError, Executor, HostExecutor, NamespaceExecutor, SandboxConfig};

/// The user's `--sandbox` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxChoice {
    /// Directly on the host.
    None,
    /// The namespace sandbox.
    Namespace,
    /// A microVM per job.
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

/// What a choice comes to on this host, decided without building (or booting) anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `None`, `Namespace` or `Microvm`: never `Auto`.
    pub choice: SandboxChoice,
    /// One line per sandbox that `auto` could not use, and why.
    pub fallbacks: Vec<String>,
}

const NO_IMAGE: &str = "no guest image (build one with `hrun image build`)";

/// Resolves `choice` to the sandbox it means here. `vm` is the guest image and VM settings when
/// an image is present; `microvm` needs it, and `auto` takes it when QEMU runs.
pub fn resolve_sandbox(
    choice: SandboxChoice,
    vm: Option<(&VmImage, &VmConfig)>,
) -> Result<Resolved, ExecError> {
    let microvm = || match vm {
        Some((image, config)) => MicroVmExecutor::probe(image, config),
        None => Err(NO_IMAGE.to_owned()),
    };
    let resolved = |choice, fallbacks| Ok(Resolved { choice, fallbacks });
    match choice {
        SandboxChoice::None => resolved(SandboxChoice::None, Vec::new()),
        SandboxChoice::Microvm => match microvm() {
            Ok(()) => resolved(SandboxChoice::Microvm, Vec::new()),
            Err(reason) => Err(ExecError::Unavailable {
                name: "microvm",
                reason,
            }),
        },
        SandboxChoice::Namespace => match NamespaceExecutor::probe() {
            Ok(()) => resolved(SandboxChoice::Namespace, Vec::new()),
            Err(reason) => Err(ExecError::Unavailable {
                name: "namespace",
                reason,
            }),
        },
        SandboxChoice::Auto => {
            let mut fallbacks = Vec::new();
            match microvm() {
                Ok(()) => return resolved(SandboxChoice::Microvm, fallbacks),
                Err(reason) => fallbacks.push(format!("microvm: {reason}")),
            }
            match NamespaceExecutor::probe() {
                Ok(()) => resolved(SandboxChoice::Namespace, fallbacks),
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

/// Builds the executor for `choice`; `config` describes the sandbox for `namespace`, `microvm`
/// and `auto`, and `vm` the guest image and VM settings when an image is present.
pub fn select_executor(
    choice: SandboxChoice,
    config: SandboxConfig,
    vm: Option<MicroVmSetup>,
) -> Result<Selected, ExecError> {
    let Resolved { choice, fallbacks } =
        resolve_sandbox(choice, vm.as_ref().map(|s| (&s.image, &s.vm)))?;
    let executor: Box<dyn Executor> = match (choice, vm) {
        (SandboxChoice::None, _) => Box::new(HostExecutor::new()),
        (SandboxChoice::Microvm, Some(setup)) => Box::new(MicroVmExecutor::new(setup, config)?),
        (SandboxChoice::Microvm, None) => {
            return Err(ExecError::Unavailable {
                name: "microvm",
                reason: NO_IMAGE.to_owned(),
            })
        }
        (SandboxChoice::Namespace | SandboxChoice::Auto, _) => {
            // Building the job's sandbox here is also the test that it works on this host.
            let executor = NamespaceExecutor::new(config)?;
            executor
                .set_up_now()
                .map_err(|reason| ExecError::Unavailable {
                    name: "namespace",
                    reason,
                })?;
            Box::new(executor)
        }
    };
    Ok(Selected {
        executor,
        fallbacks,
    })
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
    fn microvm_without_an_image_is_unavailable_and_says_so() {
        let r = select_executor(
            SandboxChoice::Microvm,
            SandboxConfig::new(Vec::<String>::new()),
            None,
        );
        match r {
            Err(ExecError::Unavailable {
                name: "microvm",
                reason,
            }) => assert!(reason.contains("no guest image"), "{reason}"),
            other => panic!("expected microvm unavailable, got {other:?}"),
        }
    }

    #[test]
    fn auto_without_an_image_passes_over_microvm_with_the_reason() {
        if NamespaceExecutor::probe().is_err() {
            println!("SKIP auto_without_an_image_passes_over_microvm_with_the_reason: no namespace sandbox here");
            return;
        }
        let r = resolve_sandbox(SandboxChoice::Auto, None).expect("auto resolves");
        assert_eq!(r.choice, SandboxChoice::Namespace);
        assert_eq!(r.fallbacks, [format!("microvm: {NO_IMAGE}")]);
    }

    #[test]
    fn auto_passes_over_microvm_when_the_image_is_incomplete() {
        let image = VmImage {
            kernel: "/nonexistent/vmlinuz".into(),
            initrd: "/nonexistent/initrd.img".into(),
            rootfs: "/nonexistent/rootfs.ext4".into(),
            digest: "d".to_owned(),
            kernel_release: "r".to_owned(),
        };
        let config = VmConfig::default();
        let r = resolve_sandbox(SandboxChoice::Auto, Some((&image, &config)));
        let fallbacks = match r {
            Ok(r) => r.fallbacks,
            Err(ExecError::Unavailable { reason, .. }) => vec![reason],
            Err(e) => panic!("{e}"),
        };
        assert!(fallbacks[0].contains("kernel"), "{fallbacks:?}");
    }

    #[test]
    fn none_selects_the_host_executor() {
        let r = select_executor(
            SandboxChoice::None,
            SandboxConfig::new(Vec::<String>::new()),
            None,
        );
        assert_eq!(r.ok().map(|s| s.executor.name()), Some("none"));
    }
}
