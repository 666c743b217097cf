//! What an image is built from: the [`Recipe`] (suite, mirrors, packages, kernel, modules, node,
//! the job user, the time stamp, the file system identity) and, for deciding whether a cached
//! image can be reused, the [`BuildInputs`]: the recipe, the agent's digest, and the digest of
//! each mirror suite's signed index (`InRelease`), which changes whenever the mirror publishes
//! new package versions.

use crate::apt_sources::DebianSource;
use crate::digest::Sha256Hex;
use crate::error::ImageError;
use crate::ext4::Ext4Identity;
use crate::node::NodePin;
use crate::tool;

/// Bumped whenever the build procedure changes what it produces from the same inputs.
pub const RECIPE_VERSION: u32 = 2;

/// The default `SOURCE_DATE_EPOCH`: 2025-01-01T00:00:00Z. Every time stamp in the image is this
/// (or the caller's `SOURCE_DATE_EPOCH`); a time taken from the build's clock would make every
/// build differ.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 1_735_689_600;

/// The unprivileged user steps run as in the guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Everything that decides the image's bytes, besides the agent and the mirror's contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    pub recipe_version: u32,
    pub suite: String,
    pub sources: Vec<DebianSource>,
    /// mmdebstrap's variant: `essential` (no apt in the guest) plus `packages`.
    pub variant: String,
    pub packages: Vec<String>,
    /// dpkg options that keep documentation, manual pages and translations out.
    pub dpkg_options: Vec<String>,
    /// The meta-package that names the kernel: `linux-image-cloud-amd64`.
    pub kernel_package: String,
    /// Modules the initramfs loads (with their dependencies), by `modprobe` name.
    pub modules: Vec<String>,
    pub node: NodePin,
    pub job_user: JobUser,
    pub source_date_epoch: u64,
    pub rootfs_identity: Ext4Identity,
}

impl Recipe {
    /// Debian bookworm with the packages jobs expect (bash, coreutils, git, curl,
    /// ca-certificates, python3, iproute2, procps; libstdc++6 for node) and the cloud kernel.
    pub fn bookworm(sources: Vec<DebianSource>, source_date_epoch: u64) -> Recipe {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Recipe {
            recipe_version: RECIPE_VERSION,
            suite: "bookworm".into(),
            sources,
            variant: "essential".into(),
            packages: strings(&[
                "bash",
                "ca-certificates",
                "coreutils",
                "curl",
                "git",
                "iproute2",
                "libstdc++6",
                "procps",
                "python3",
            ]),
            dpkg_options: strings(&[
                "path-exclude=/usr/share/doc/*",
                "path-include=/usr/share/doc/*/copyright",
                "path-exclude=/usr/share/man/*",
                "path-exclude=/usr/share/info/*",
                "path-exclude=/usr/share/locale/*",
                "path-exclude=/usr/share/lintian/*",
                "path-exclude=/usr/share/linda/*",
            ]),
            kernel_package: "linux-image-cloud-amd64".into(),
            modules: strings(&[
                "virtio",
                "virtio_ring",
                "virtio_mmio",
                "virtio_blk",
                "virtio_console",
                "virtio_net",
                "virtio_rng",
                "vmw_vsock_virtio_transport",
                "overlay",
            ]),
            node: NodePin::pinned(),
            job_user: JobUser {
                name: "runner".into(),
                uid: 1001,
                gid: 1001,
                home: "/home/runner".into(),
            },
            source_date_epoch,
            rootfs_identity: Ext4Identity::rootfs(),
        }
    }
}

/// The digest of one suite's `InRelease` on its mirror.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuiteState {
    pub url: String,
    pub sha256: Sha256Hex,
}

/// What decides whether a cached image is still the one a build would make.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildInputs {
    pub recipe: Recipe,
    pub agent_sha256: Sha256Hex,
    pub mirror: Vec<SuiteState>,
}

impl BuildInputs {
    /// The key a cached image is found by.
    pub fn key(&self) -> Sha256Hex {
        // Serialising plain structs and vectors cannot fail; an empty key would only miss.
        Sha256Hex::of_bytes(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Fetches each source's `InRelease` and digests it.
pub fn mirror_state(sources: &[DebianSource]) -> Result<Vec<SuiteState>, ImageError> {
    let mut states = Vec::new();
    for source in sources {
        let url = source.in_release_url();
        let body = tool::output(
            tool::CURL
                .command()?
                .args(["--fail", "--silent", "--show-error", "--location"])
                .args(["--retry", "3", "--max-time", "60"])
                .arg(&url),
        )?;
        states.push(SuiteState {
            sha256: Sha256Hex::of_bytes(&body),
            url,
        });
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt_sources::default_sources;

    #[test]
    fn the_bookworm_recipe_carries_the_packages_jobs_expect() {
        let recipe = Recipe::bookworm(default_sources("bookworm"), DEFAULT_SOURCE_DATE_EPOCH);
        for package in [
            "bash",
            "coreutils",
            "git",
            "curl",
            "ca-certificates",
            "python3",
        ] {
            assert!(recipe.packages.iter().any(|p| p == package), "{package}");
        }
        assert_eq!((recipe.job_user.uid, recipe.job_user.gid), (1001, 1001));
        assert!(recipe.modules.iter().any(|m| m == "virtio_mmio"));
    }

    #[test]
    fn the_input_key_changes_with_the_agent_and_the_mirror() {
        let recipe = Recipe::bookworm(default_sources("bookworm"), 1);
        let inputs = BuildInputs {
            recipe,
            agent_sha256: Sha256Hex::of_bytes(b"agent"),
            mirror: vec![SuiteState {
                url: "u".into(),
                sha256: Sha256Hex::of_bytes(b"index"),
            }],
        };
        let same = inputs.clone();
        assert_eq!(inputs.key(), same.key());
        let mut other_agent = inputs.clone();
        other_agent.agent_sha256 = Sha256Hex::of_bytes(b"agent 2");
        assert_ne!(inputs.key(), other_agent.key());
        let mut other_mirror = inputs.clone();
        other_mirror.mirror[0].sha256 = Sha256Hex::of_bytes(b"index 2");
        assert_ne!(inputs.key(), other_mirror.key());
    }
}
