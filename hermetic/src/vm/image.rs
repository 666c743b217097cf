//! The guest image a microVM boots: kernel, initramfs and root file system, as plain paths.
//!
//! `hermetic` does not depend on the `images` crate that builds and verifies images; the runner
//! maps an image's manifest to a [`VmImage`]. This module only checks that the files are there.
//!
//! Must never: read or trust the image's manifest (that is the images crate's job).

use std::path::PathBuf;

/// A guest image: what QEMU's `-kernel`, `-initrd` and the read-only root disk point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmImage {
    /// The guest kernel (`vmlinuz`: a bzImage, or an uncompressed ELF `vmlinux` with a PVH note).
    pub kernel: PathBuf,
    /// The initramfs whose `/init` is the guest agent.
    pub initrd: PathBuf,
    /// The root file system (ext4), attached read-only as the disk with serial `hrun-root`.
    pub rootfs: PathBuf,
    /// The image's digest (hex SHA-256 of its manifest): keys the accelerator verdict and is
    /// recorded in the job result.
    pub digest: String,
    /// The guest kernel's release (`uname -r` inside).
    pub kernel_release: String,
}

impl VmImage {
    /// Checks that the kernel, initramfs and root file system exist and are regular files;
    /// `Err` names the first that is not.
    pub fn check_files(&self) -> Result<(), String> {
        for (what, path) in [
            ("kernel", &self.kernel),
            ("initramfs", &self.initrd),
            ("root file system", &self.rootfs),
        ] {
            match std::fs::metadata(path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => {
                    return Err(format!(
                        "the image's {what} {} is not a file",
                        path.display()
                    ))
                }
                Err(e) => return Err(format!("the image's {what} {}: {e}", path.display())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_files_names_the_missing_part() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = dir.path().join("vmlinuz");
        let initrd = dir.path().join("initrd.img");
        std::fs::write(&kernel, b"k").expect("write");
        std::fs::write(&initrd, b"i").expect("write");
        let image = VmImage {
            kernel,
            initrd,
            rootfs: dir.path().join("rootfs.ext4"),
            digest: "0".repeat(64),
            kernel_release: "6.1.0".to_owned(),
        };
        let err = image.check_files().expect_err("rootfs is missing");
        assert!(err.contains("root file system"), "{err}");
        std::fs::write(&image.rootfs, b"r").expect("write");
        assert_eq!(image.check_files(), Ok(()));
    }
}
