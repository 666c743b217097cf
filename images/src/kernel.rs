//! The guest kernel: Debian's cloud kernel package, resolved from its meta-package
//! (`linux-image-cloud-amd64` depends on exactly one versioned `linux-image-<abi>-cloud-amd64`),
//! unpacked, checked against what the guest needs, and indexed for its modules.
//!
//! The package carries no `modules.dep` (its postinst runs `depmod`), so [`unpack`] runs
//! `depmod -b` on the unpacked tree; [`crate::modules`] reads the result.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::deb822;
use crate::digest::Sha256Hex;
use crate::error::ImageError;
use crate::modules::ModuleIndex;
use crate::tool;

/// The kernel package file as downloaded, with what identifies it.
#[derive(Debug, Clone)]
pub struct KernelDeb {
    pub path: PathBuf,
    /// `linux-image-6.1.0-56-cloud-amd64`.
    pub package: String,
    pub version: String,
    pub sha256: Sha256Hex,
    /// `linux-image-cloud-amd64` and its version, which chose `package`.
    pub meta_package: String,
    pub meta_version: String,
}

/// The options the guest cannot boot without, each `(name, value)` as in the kernel's config.
/// The virtio drivers and overlayfs may be modules: the initramfs loads them.
const REQUIRED_CONFIG: [(&str, &str); 3] = [
    ("CONFIG_EXT4_FS", "y"),
    ("CONFIG_DEVTMPFS", "y"),
    ("CONFIG_BLK_DEV_INITRD", "y"),
];

/// Finds the package the build downloaded into `dir`: `meta.txt` is `apt-cache show` of the
/// meta-package, and the one `.deb` there must be the package it depends on.
pub fn find_downloaded(dir: &Path, meta_package: &str) -> Result<KernelDeb, ImageError> {
    let kernel_error = |reason: String| ImageError::Kernel {
        package: meta_package.to_owned(),
        reason,
    };
    let meta_path = dir.join("meta.txt");
    let meta = std::fs::read_to_string(&meta_path).map_err(ImageError::io("read", &meta_path))?;
    let paragraph = deb822::parse(&meta)
        .into_iter()
        .next()
        .ok_or_else(|| kernel_error("apt-cache show printed nothing".into()))?;
    let meta_version = paragraph
        .get("Version")
        .ok_or_else(|| kernel_error("no Version in its apt record".into()))?
        .to_owned();
    let wanted = paragraph
        .get("Depends")
        .and_then(|d| d.split(',').next())
        .and_then(|d| d.split_whitespace().next())
        .filter(|d| d.starts_with("linux-image-"))
        .ok_or_else(|| kernel_error("its Depends names no linux-image package".into()))?
        .to_owned();
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(ImageError::io("list", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    let [deb] = debs.as_slice() else {
        return Err(kernel_error(format!(
            "expected one downloaded .deb in {}, found {}",
            dir.display(),
            debs.len()
        )));
    };
    let fields = tool::output(
        tool::DPKG_DEB
            .command()?
            .arg("--field")
            .arg(deb)
            .args(["Package", "Version"]),
    )?;
    let fields = String::from_utf8_lossy(&fields);
    let control = deb822::parse(&fields)
        .into_iter()
        .next()
        .unwrap_or_default();
    let package = control.get("Package").unwrap_or_default().to_owned();
    let version = control.get("Version").unwrap_or_default().to_owned();
    if package != wanted || version.is_empty() {
        return Err(kernel_error(format!(
            "downloaded `{package}` {version}, but the meta-package depends on `{wanted}`"
        )));
    }
    let (sha256, _) = Sha256Hex::of_file(deb).map_err(ImageError::io("read", deb))?;
    Ok(KernelDeb {
        path: deb.clone(),
        package,
        version,
        sha256,
        meta_package: meta_package.to_owned(),
        meta_version,
    })
}

/// An unpacked kernel package.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// `6.1.0-56-cloud-amd64`, as `uname -r` prints it in the guest.
    pub release: String,
    pub vmlinuz: PathBuf,
    /// `<tree>/lib/modules/<release>`, where module paths are relative to.
    pub modules_dir: PathBuf,
}

/// Unpacks `deb` into `dest`, checks its config and writes its `modules.dep`.
pub fn unpack(deb: &KernelDeb, dest: &Path) -> Result<Kernel, ImageError> {
    let kernel_error = |reason: String| ImageError::Kernel {
        package: deb.package.clone(),
        reason,
    };
    std::fs::create_dir_all(dest).map_err(ImageError::io("create", dest))?;
    tool::output(tool::DPKG_DEB.command()?.arg("-x").arg(&deb.path).arg(dest))?;
    let (modules_root, releases) = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|p| dest.join(p))
        .find_map(|root| {
            let entries = std::fs::read_dir(&root).ok()?;
            let names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            Some((root, names))
        })
        .ok_or_else(|| kernel_error("has no lib/modules directory".into()))?;
    let [release] = releases.as_slice() else {
        return Err(kernel_error(format!(
            "expected one kernel release under lib/modules, found {releases:?}"
        )));
    };
    let vmlinuz = dest.join("boot").join(format!("vmlinuz-{release}"));
    if !vmlinuz.is_file() {
        return Err(kernel_error(format!("has no boot/vmlinuz-{release}")));
    }
    let config_path = dest.join("boot").join(format!("config-{release}"));
    let config =
        std::fs::read_to_string(&config_path).map_err(ImageError::io("read", &config_path))?;
    check_config(&config).map_err(kernel_error)?;
    let base = modules_root
        .parent()
        .and_then(Path::parent)
        .unwrap_or(dest)
        .to_path_buf();
    tool::output(tool::DEPMOD.command()?.arg("-b").arg(&base).arg(release))?;
    Ok(Kernel {
        release: release.clone(),
        vmlinuz,
        modules_dir: modules_root.join(release),
    })
}

/// Parses `CONFIG_X=value` lines (`# CONFIG_X is not set` counts as absent).
pub fn parse_config(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .collect()
}

/// Whether the kernel's config has what the guest boot path needs built in.
pub fn check_config(text: &str) -> Result<(), String> {
    let config = parse_config(text);
    for (name, wanted) in REQUIRED_CONFIG {
        match config.get(name) {
            Some(value) if *value == wanted => {}
            Some(value) => {
                return Err(format!(
                    "its config has {name}={value}; the guest needs {name}={wanted}"
                ))
            }
            None => return Err(format!("its config lacks {name}; the guest needs it")),
        }
    }
    Ok(())
}

impl Kernel {
    /// The module index from `modules.dep` and `modules.builtin`.
    pub fn module_index(&self) -> Result<ModuleIndex, ImageError> {
        let read = |name: &str| {
            let path = self.modules_dir.join(name);
            std::fs::read_to_string(&path).map_err(ImageError::io("read", &path))
        };
        Ok(ModuleIndex::parse(
            &read("modules.dep")?,
            &read("modules.builtin")?,
        )?)
    }

    /// The module at `path` (relative to the modules directory), decompressed, and the path it
    /// gets in the initramfs (without the compression suffix).
    pub fn module_file(&self, path: &str) -> Result<(String, Vec<u8>), ImageError> {
        let file = self.modules_dir.join(path);
        let decompress = |program: &'static str, package: &'static str| {
            tool::output(
                tool::Tool { program, package }
                    .command()?
                    .arg("-dc")
                    .arg(&file),
            )
            .map_err(ImageError::from)
        };
        let (plain, bytes) = if let Some(stem) = path.strip_suffix(".xz") {
            (stem, decompress("xz", "xz-utils")?)
        } else if let Some(stem) = path.strip_suffix(".zst") {
            (stem, decompress("zstd", "zstd")?)
        } else if let Some(stem) = path.strip_suffix(".gz") {
            let mut bytes = Vec::new();
            let f = std::fs::File::open(&file).map_err(ImageError::io("open", &file))?;
            flate2::read::GzDecoder::new(f)
                .read_to_end(&mut bytes)
                .map_err(ImageError::io("decompress", &file))?;
            (stem, bytes)
        } else {
            let bytes = std::fs::read(&file).map_err(ImageError::io("read", &file))?;
            (path, bytes)
        };
        Ok((plain.to_owned(), bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "#\n# comment\nCONFIG_EXT4_FS=y\nCONFIG_DEVTMPFS=y\n\
        CONFIG_BLK_DEV_INITRD=y\nCONFIG_VIRTIO_MMIO=m\n# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n";

    #[test]
    fn accepts_a_config_with_ext4_devtmpfs_and_initrd_built_in() {
        assert_eq!(check_config(CONFIG), Ok(()));
        assert_eq!(parse_config(CONFIG).get("CONFIG_VIRTIO_MMIO"), Some(&"m"));
        assert_eq!(
            parse_config(CONFIG).get("CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES"),
            None
        );
    }

    #[test]
    fn rejects_ext4_as_a_module_naming_the_option() {
        let config = CONFIG.replace("CONFIG_EXT4_FS=y", "CONFIG_EXT4_FS=m");
        assert_eq!(
            check_config(&config),
            Err("its config has CONFIG_EXT4_FS=m; the guest needs CONFIG_EXT4_FS=y".into())
        );
        let config = CONFIG.replace("CONFIG_DEVTMPFS=y\n", "");
        assert!(check_config(&config)
            .unwrap_err()
            .contains("lacks CONFIG_DEVTMPFS"));
    }
}
