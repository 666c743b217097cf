//! The error of an image build, listing, or verification: each variant says which part failed
//! and what to do where there is something to do.

use std::io;
use std::path::{Path, PathBuf};

use crate::cpio::CpioError;
use crate::manifest::ManifestError;
use crate::modules::ModulesError;
use crate::tool::ToolError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("kernel modules: {0}")]
    Modules(#[from] ModulesError),
    #[error("initramfs: {0}")]
    Cpio(#[from] CpioError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The kernel package is not what the guest needs (config, layout, version).
    #[error("kernel package {package}: {reason}")]
    Kernel { package: String, reason: String },
    #[error(
        "no guest agent at {}: build it with `bash ci/build-agent.sh` (it prints the binary's \
         path) and pass `--agent <path>`",
        path.display()
    )]
    AgentMissing { path: PathBuf },
    #[error("the guest agent {} cannot be /init: {reason}", path.display())]
    AgentUnfit { path: PathBuf, reason: String },
    #[error("node {version}: {reason}")]
    Node { version: String, reason: String },
    #[error("root file system: {0}")]
    Rootfs(String),
    #[error(
        "building the root file system needs root (mmdebstrap --mode=root and chroot); run the \
         build as root, as CI does"
    )]
    NeedsRoot,
    #[error("image store {}: {reason}", path.display())]
    Store { path: PathBuf, reason: String },
}

impl ImageError {
    /// A closure for `map_err` that records what was being done to which path.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ImageError {
        let path = path.to_path_buf();
        move |source| ImageError::Io {
            action,
            path,
            source,
        }
    }
}
