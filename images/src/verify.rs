//! Checking an image directory against its manifest: the manifest's own digest against the
//! directory's name, and every component's size and SHA-256, re-hashed from disk. Each problem
//! names the file it is about.

use std::path::{Path, PathBuf};

use crate::digest::Sha256Hex;
use crate::error::ImageError;
use crate::manifest::{Manifest, MANIFEST_FILE};

/// The outcome of [`verify`]: no problems means every file is what the manifest says.
#[derive(Debug, Clone)]
pub struct Verification {
    pub dir: PathBuf,
    /// The digest of `manifest.json`, if it could be read.
    pub digest: Option<Sha256Hex>,
    /// One line per problem, each starting with the file it is about.
    pub problems: Vec<String>,
    /// Files checked and found right.
    pub checked: Vec<String>,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the image at `dir`. Errs only when `dir` is not a directory; a damaged image is
/// a [`Verification`] with problems.
pub fn verify(dir: &Path) -> Result<Verification, ImageError> {
    if !dir.is_dir() {
        return Err(ImageError::Store {
            path: dir.to_path_buf(),
            reason: "is not an image directory".into(),
        });
    }
    let mut verification = Verification {
        dir: dir.to_path_buf(),
        digest: None,
        problems: Vec::new(),
        checked: Vec::new(),
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(err) => {
            verification
                .problems
                .push(format!("{MANIFEST_FILE}: cannot read it: {err}"));
            return Ok(verification);
        }
    };
    let digest = Sha256Hex::of_bytes(&bytes);
    verification.digest = Some(digest.clone());
    let manifest = match Manifest::parse(&bytes, Path::new(MANIFEST_FILE)) {
        Ok(manifest) => manifest,
        Err(err) => {
            verification.problems.push(err.to_string());
            return Ok(verification);
        }
    };
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if Sha256Hex::parse(name).is_some() && name != digest.as_str() {
        verification.problems.push(format!(
            "{MANIFEST_FILE}: its digest is {digest}, but the directory is named {name}"
        ));
    } else {
        verification.checked.push(MANIFEST_FILE.to_owned());
    }
    for component in &manifest.components {
        let path = dir.join(&component.file);
        let file = &component.file;
        let metadata = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                verification
                    .problems
                    .push(format!("{file}: is not a regular file"));
                continue;
            }
            Err(err) => {
                verification.problems.push(format!("{file}: {err}"));
                continue;
            }
        };
        if metadata.len() != component.size {
            verification.problems.push(format!(
                "{file}: {} bytes, the manifest says {}",
                metadata.len(),
                component.size
            ));
            continue;
        }
        match Sha256Hex::of_file(&path) {
            Ok((actual, _)) if actual == component.sha256 => {
                verification.checked.push(file.clone());
            }
            Ok((actual, _)) => verification.problems.push(format!(
                "{file}: sha256 is {actual}, the manifest says {}",
                component.sha256
            )),
            Err(err) => verification
                .problems
                .push(format!("{file}: cannot read it: {err}")),
        }
    }
    Ok(verification)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::write_image;
    use crate::store::ImageStore;

    fn installed() -> (tempfile::TempDir, PathBuf) {
        let store_dir = tempfile::tempdir().unwrap();
        let (staged, digest) = write_image(store_dir.path(), [b"kernel", b"initrd", b"rootfs"]);
        let image = ImageStore::new(store_dir.path())
            .install(&staged, &digest, &Sha256Hex::of_bytes(b"k"))
            .unwrap();
        (store_dir, image.dir)
    }

    #[test]
    fn an_intact_image_verifies() {
        let (_store, dir) = installed();
        let verification = verify(&dir).unwrap();
        assert!(verification.is_ok(), "{:?}", verification.problems);
        assert_eq!(
            verification.checked,
            ["manifest.json", "vmlinuz", "initrd.img", "rootfs.ext4"]
        );
    }

    #[test]
    fn a_changed_component_is_named() {
        let (_store, dir) = installed();
        std::fs::write(dir.join("rootfs.ext4"), b"ROOTFS").unwrap();
        let verification = verify(&dir).unwrap();
        assert_eq!(verification.problems.len(), 1);
        assert!(
            verification.problems[0].starts_with("rootfs.ext4: sha256 is "),
            "{:?}",
            verification.problems
        );
    }

    #[test]
    fn a_truncated_or_missing_component_is_named() {
        let (_store, dir) = installed();
        std::fs::write(dir.join("initrd.img"), b"init").unwrap();
        std::fs::remove_file(dir.join("vmlinuz")).unwrap();
        let problems = verify(&dir).unwrap().problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("vmlinuz: "), "{problems:?}");
        assert_eq!(problems[1], "initrd.img: 4 bytes, the manifest says 6");
    }

    #[test]
    fn an_edited_manifest_no_longer_matches_its_directory_name() {
        let (_store, dir) = installed();
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"format\": 1", "\"format\":  1")).unwrap();
        let problems = verify(&dir).unwrap().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("but the directory is named"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_verdict() {
        assert!(verify(Path::new("/nonexistent/image")).is_err());
    }
}
