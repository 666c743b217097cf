//! `manifest.json`: what an image is made of. Its SHA-256 (of the exact bytes on disk) is the
//! image's digest and the name of its directory, so the manifest holds only what is the same
//! for two builds of the same inputs: no build time, no host name, no path of the build host.
//!
//! ```json
//! {
//!   "format": 1,
//!   "source_date_epoch": 1735689600,
//!   "components": [ { "name": "kernel", "file": "vmlinuz", "sha256": "…", "size": 8123456 }, … ],
//!   "kernel": { "package": "linux-image-6.1.0-56-cloud-amd64", "version": "6.1.192-2",
//!               "deb_sha256": "…", "meta_package": "linux-image-cloud-amd64",
//!               "meta_version": "6.1.192-2", "release": "6.1.0-56-cloud-amd64" },
//!   "initrd": { "agent_sha256": "…", "agent_size": 4567890, "modules": [ "/lib/modules/…" ] },
//!   "rootfs": { "blocks": 98304, "inodes": 9152, "node": { … }, "packages": [ { "name": "bash",
//!               "version": "5.2.15-2+b7", "architecture": "amd64" }, … ] },
//!   "inputs": { "recipe_version": 1, "suite": "bookworm", "sources": [ … ], … }
//! }
//! ```

use std::path::Path;

use crate::digest::Sha256Hex;
use crate::node::{NodeInstall, NodePin};
use crate::packages::DebPackage;
use crate::recipe::Recipe;

/// The manifest format this crate writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

/// The roles of an image's files and their names in the image directory.
pub const KERNEL_FILE: &str = "vmlinuz";
pub const INITRD_FILE: &str = "initrd.img";
pub const ROOTFS_FILE: &str = "rootfs.ext4";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: not a manifest: {source}")]
    Parse {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: manifest format {found}; this hrun reads format {MANIFEST_FORMAT}")]
    Format { file: String, found: u32 },
    #[error("{file}: component file name `{name}` is not a plain file name")]
    BadFileName { file: String, name: String },
    #[error("{file}: lists no `{role}` component")]
    MissingComponent { file: String, role: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub source_date_epoch: u64,
    pub components: Vec<Component>,
    pub kernel: KernelRecord,
    pub initrd: InitrdRecord,
    pub rootfs: RootfsRecord,
    /// What was asked for: the recipe the image was built from.
    pub inputs: Recipe,
}

/// One file of the image directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Component {
    /// `kernel`, `initrd` or `rootfs`.
    pub name: String,
    /// The file's name in the image directory.
    pub file: String,
    pub sha256: Sha256Hex,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelRecord {
    pub package: String,
    pub version: String,
    pub deb_sha256: Sha256Hex,
    pub meta_package: String,
    pub meta_version: String,
    /// `uname -r` in the guest.
    pub release: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InitrdRecord {
    pub agent_sha256: Sha256Hex,
    pub agent_size: u64,
    /// Module paths in the initramfs, in the order the agent loads them.
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RootfsRecord {
    pub blocks: u64,
    pub inodes: u64,
    pub node: NodeRecord,
    pub packages: Vec<DebPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeRecord {
    pub package: String,
    pub version: String,
    pub integrity: String,
    pub path: String,
    pub sha256: Sha256Hex,
}

impl NodeRecord {
    pub fn new(pin: &NodePin, install: NodeInstall) -> NodeRecord {
        NodeRecord {
            package: pin.package.clone(),
            version: pin.version.clone(),
            integrity: pin.integrity.clone(),
            path: install.path,
            sha256: install.sha256,
        }
    }
}

impl Manifest {
    /// The bytes written to `manifest.json`: pretty JSON in field order, one final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs, strings and numbers cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The image's digest: SHA-256 of [`Manifest::to_bytes`].
    pub fn digest(&self) -> Sha256Hex {
        Sha256Hex::of_bytes(&self.to_bytes())
    }

    /// Parses and checks a manifest read from `file` (named in errors).
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Manifest, ManifestError> {
        let file = file.display().to_string();
        // Read the format first, so a future format is named as such, not as a parse error.
        #[derive(serde::Deserialize)]
        struct FormatOnly {
            format: u32,
        }
        let format = serde_json::from_slice::<FormatOnly>(bytes)
            .map_err(|source| ManifestError::Parse {
                file: file.clone(),
                source,
            })?
            .format;
        if format != MANIFEST_FORMAT {
            return Err(ManifestError::Format {
                file,
                found: format,
            });
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|source| ManifestError::Parse {
                file: file.clone(),
                source,
            })?;
        for component in &manifest.components {
            let name = &component.file;
            let plain = !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains('/')
                && !name.contains('\0');
            if !plain {
                return Err(ManifestError::BadFileName {
                    file,
                    name: name.clone(),
                });
            }
        }
        for role in ["kernel", "initrd", "rootfs"] {
            if manifest.component(role).is_none() {
                return Err(ManifestError::MissingComponent { file, role });
            }
        }
        Ok(manifest)
    }

    /// The component of `role` (`kernel`, `initrd`, `rootfs`).
    pub fn component(&self, role: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == role)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::apt_sources::default_sources;

    pub(crate) fn sample() -> Manifest {
        let digest = |s: &str| Sha256Hex::of_bytes(s.as_bytes());
        let component = |name: &str, file: &str| Component {
            name: name.into(),
            file: file.into(),
            sha256: digest(file),
            size: 3,
        };
        Manifest {
            format: MANIFEST_FORMAT,
            source_date_epoch: 1_735_689_600,
            components: vec![
                component("kernel", KERNEL_FILE),
                component("initrd", INITRD_FILE),
                component("rootfs", ROOTFS_FILE),
            ],
            kernel: KernelRecord {
                package: "linux-image-6.1.0-56-cloud-amd64".into(),
                version: "6.1.192-2".into(),
                deb_sha256: digest("deb"),
                meta_package: "linux-image-cloud-amd64".into(),
                meta_version: "6.1.192-2".into(),
                release: "6.1.0-56-cloud-amd64".into(),
            },
            initrd: InitrdRecord {
                agent_sha256: digest("agent"),
                agent_size: 5,
                modules: vec!["/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/overlay.ko".into()],
            },
            rootfs: RootfsRecord {
                blocks: 1,
                inodes: 2,
                node: NodeRecord::new(
                    &NodePin::pinned(),
                    NodeInstall {
                        path: "/usr/local/bin/node".into(),
                        sha256: digest("node"),
                    },
                ),
                packages: vec![DebPackage {
                    name: "bash".into(),
                    version: "5.2.15-2+b7".into(),
                    architecture: "amd64".into(),
                }],
            },
            inputs: Recipe::bookworm(default_sources("bookworm"), 1_735_689_600),
        }
    }

    #[test]
    fn round_trips_and_its_digest_is_that_of_its_bytes() {
        let manifest = sample();
        let bytes = manifest.to_bytes();
        assert!(bytes.ends_with(b"}\n"));
        let parsed = Manifest::parse(&bytes, Path::new("m.json")).unwrap();
        assert_eq!(parsed, manifest);
        assert_eq!(
            parsed.to_bytes(),
            bytes,
            "writing again gives the same bytes"
        );
        assert_eq!(manifest.digest(), Sha256Hex::of_bytes(&bytes));
    }

    #[test]
    fn lists_every_component_package_and_the_agent_and_node_pins() {
        let text = String::from_utf8(sample().to_bytes()).unwrap();
        for needle in [
            "\"source_date_epoch\": 1735689600",
            "\"file\": \"rootfs.ext4\"",
            "\"deb_sha256\"",
            "\"agent_sha256\"",
            "\"integrity\": \"sha512-",
            "\"version\": \"5.2.15-2+b7\"",
            "\"kernel_package\": \"linux-image-cloud-amd64\"",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }

    #[test]
    fn rejects_a_component_path_that_leaves_the_directory() {
        let mut manifest = sample();
        manifest.components[2].file = "../../etc/shadow".into();
        let err = Manifest::parse(&manifest.to_bytes(), Path::new("m.json")).unwrap_err();
        assert!(matches!(err, ManifestError::BadFileName { .. }), "{err}");
    }

    #[test]
    fn names_a_future_format_as_such() {
        let err = Manifest::parse(br#"{"format": 2, "new": true}"#, Path::new("m.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "m.json: manifest format 2; this hrun reads format 1");
    }

    #[test]
    fn rejects_a_manifest_without_a_rootfs() {
        let mut manifest = sample();
        manifest.components.pop();
        let err = Manifest::parse(&manifest.to_bytes(), Path::new("m.json")).unwrap_err();
        assert!(matches!(
            err,
            ManifestError::MissingComponent { role: "rootfs", .. }
        ));
    }
}
