//! The image store: `<store>/<digest>/` holds one image (`vmlinuz`, `initrd.img`,
//! `rootfs.ext4`, `manifest.json`, where digest = SHA-256 of `manifest.json`); `<store>/current`
//! is a symlink to the newest good build; `<store>/inputs/<key>` names the image a build with
//! those [`crate::BuildInputs`] made, so an unchanged build reuses it. The default store is
//! `$HRUN_CACHE/images`.
//!
//! An image directory appears by a rename of a complete directory, and `current` is replaced
//! by a rename too, so a reader never sees half an image.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::digest::Sha256Hex;
use crate::error::ImageError;
use crate::manifest::{Manifest, INITRD_FILE, KERNEL_FILE, MANIFEST_FILE, ROOTFS_FILE};

const CURRENT: &str = "current";
const INPUTS_DIR: &str = "inputs";

/// An image store rooted at a directory.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

/// One image directory with its manifest read (not re-hashed: see [`crate::verify`]).
#[derive(Debug, Clone)]
pub struct ImageDir {
    pub dir: PathBuf,
    pub digest: Sha256Hex,
    pub manifest: Manifest,
}

impl ImageDir {
    /// Reads the image at `dir`; its digest is that of its `manifest.json`.
    pub fn open(dir: &Path) -> Result<ImageDir, ImageError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(ImageError::io("read", &path))?;
        let manifest = Manifest::parse(&bytes, &path)?;
        Ok(ImageDir {
            dir: dir.to_path_buf(),
            digest: Sha256Hex::of_bytes(&bytes),
            manifest,
        })
    }

    pub fn kernel(&self) -> PathBuf {
        self.dir.join(KERNEL_FILE)
    }

    pub fn initrd(&self) -> PathBuf {
        self.dir.join(INITRD_FILE)
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join(ROOTFS_FILE)
    }

    /// `uname -r` of the guest kernel.
    pub fn kernel_release(&self) -> &str {
        &self.manifest.kernel.release
    }

    /// Whether every component is there with its recorded size (a quick check; `verify`
    /// re-hashes).
    pub fn is_complete(&self) -> bool {
        self.manifest.components.iter().all(|c| {
            std::fs::metadata(self.dir.join(&c.file))
                .is_ok_and(|m| m.is_file() && m.len() == c.size)
        })
    }

    /// Total size of the components in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.components.iter().map(|c| c.size).sum()
    }
}

/// One entry of [`ImageStore::list`].
#[derive(Debug)]
pub struct ListedImage {
    /// The directory's name (the digest, for a directory the store made).
    pub name: String,
    pub dir: PathBuf,
    pub image: Result<ImageDir, ImageError>,
    /// When the image was installed in this store (its manifest file's modification time).
    pub installed: Option<SystemTime>,
    pub current: bool,
}

impl ImageStore {
    pub fn new(root: impl Into<PathBuf>) -> ImageStore {
        ImageStore { root: root.into() }
    }

    /// The store under a cache directory: `<cache>/images`.
    pub fn in_cache(cache: &Path) -> ImageStore {
        ImageStore::new(cache.join("images"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The digest `current` points at, if it points at an image directory name.
    pub fn current_digest(&self) -> Option<Sha256Hex> {
        let target = std::fs::read_link(self.root.join(CURRENT)).ok()?;
        Sha256Hex::parse(target.file_name()?.to_str()?)
    }

    /// The current image.
    pub fn current(&self) -> Result<Option<ImageDir>, ImageError> {
        match self.current_digest() {
            Some(digest) => ImageDir::open(&self.root.join(digest.as_str())).map(Some),
            None => Ok(None),
        }
    }

    /// The image whose digest is `digest` or starts with it (at least 4 hex digits, and only
    /// one image may match).
    pub fn find(&self, digest: &str) -> Result<ImageDir, ImageError> {
        let store_error = |reason: String| ImageError::Store {
            path: self.root.clone(),
            reason,
        };
        let is_hex = digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if digest.len() < 4 || digest.len() > 64 || !is_hex {
            return Err(store_error(format!(
                "`{digest}` is not a digest or a prefix of at least 4 lowercase hex digits"
            )));
        }
        let matches: Vec<String> = self
            .image_names()?
            .into_iter()
            .filter(|name| name.starts_with(digest))
            .collect();
        match matches.as_slice() {
            [one] => ImageDir::open(&self.root.join(one)),
            [] => Err(store_error(format!(
                "no image has a digest starting with {digest}"
            ))),
            _ => Err(store_error(format!(
                "{} images have a digest starting with {digest}; give more digits",
                matches.len()
            ))),
        }
    }

    /// Names of the directories that look like images (64 hex digits), sorted.
    fn image_names(&self) -> Result<Vec<String>, ImageError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(ImageError::io("list", &self.root)(err)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| Sha256Hex::parse(n).is_some())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every image in the store, newest first.
    pub fn list(&self) -> Result<Vec<ListedImage>, ImageError> {
        let current = self.current_digest();
        let mut listed: Vec<ListedImage> = self
            .image_names()?
            .into_iter()
            .map(|name| {
                let dir = self.root.join(&name);
                let installed = std::fs::metadata(dir.join(MANIFEST_FILE))
                    .and_then(|m| m.modified())
                    .ok();
                ListedImage {
                    current: current.as_ref().is_some_and(|c| c.as_str() == name),
                    image: ImageDir::open(&dir),
                    installed,
                    dir,
                    name,
                }
            })
            .collect();
        listed.sort_by(|a, b| b.installed.cmp(&a.installed).then(a.name.cmp(&b.name)));
        Ok(listed)
    }

    /// The complete image a build with inputs `key` made, if it is still here.
    pub fn find_by_inputs(&self, key: &Sha256Hex) -> Option<ImageDir> {
        let record = self.root.join(INPUTS_DIR).join(key.as_str());
        let text = std::fs::read_to_string(record).ok()?;
        let digest = Sha256Hex::parse(text.trim())?;
        let image = ImageDir::open(&self.root.join(digest.as_str())).ok()?;
        (image.digest == digest && image.is_complete()).then_some(image)
    }

    /// Moves the finished image directory `staged` (inside the store) into place under its
    /// digest, records `key` for it, and makes it current. If the store already has an image
    /// with that digest and it is complete, that one is kept and `staged` is dropped.
    pub fn install(
        &self,
        staged: &Path,
        digest: &Sha256Hex,
        key: &Sha256Hex,
    ) -> Result<ImageDir, ImageError> {
        let dest = self.root.join(digest.as_str());
        let keep_existing = ImageDir::open(&dest)
            .is_ok_and(|existing| existing.digest == *digest && existing.is_complete());
        if !keep_existing {
            if dest.exists() {
                std::fs::remove_dir_all(&dest).map_err(ImageError::io("remove", &dest))?;
            }
            std::fs::rename(staged, &dest).map_err(ImageError::io("move into place", staged))?;
        }
        self.record_inputs(key, digest)?;
        self.set_current(digest)?;
        ImageDir::open(&dest)
    }

    fn record_inputs(&self, key: &Sha256Hex, digest: &Sha256Hex) -> Result<(), ImageError> {
        let dir = self.root.join(INPUTS_DIR);
        std::fs::create_dir_all(&dir).map_err(ImageError::io("create", &dir))?;
        let tmp = dir.join(format!(".{key}.{}", std::process::id()));
        std::fs::write(&tmp, format!("{digest}\n")).map_err(ImageError::io("write", &tmp))?;
        let record = dir.join(key.as_str());
        std::fs::rename(&tmp, &record).map_err(ImageError::io("write", &record))
    }

    /// Points `current` at the image `digest` (a relative symlink, replaced atomically).
    pub fn set_current(&self, digest: &Sha256Hex) -> Result<(), ImageError> {
        let tmp = self.root.join(format!(".current.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(digest.as_str(), &tmp)
            .map_err(ImageError::io("create the symlink", &tmp))?;
        let link = self.root.join(CURRENT);
        std::fs::rename(&tmp, &link).map_err(ImageError::io("replace", &link))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::manifest::tests::sample;
    use crate::manifest::Component;

    /// Writes an image directory for `manifest`-like content with real component digests.
    pub(crate) fn write_image(parent: &Path, contents: [&[u8]; 3]) -> (PathBuf, Sha256Hex) {
        let staged = parent.join("staged");
        std::fs::create_dir_all(&staged).unwrap();
        let mut manifest = sample();
        for (component, bytes) in manifest.components.iter_mut().zip(contents) {
            std::fs::write(staged.join(&component.file), bytes).unwrap();
            *component = Component {
                sha256: Sha256Hex::of_bytes(bytes),
                size: bytes.len() as u64,
                ..component.clone()
            };
        }
        std::fs::write(staged.join(MANIFEST_FILE), manifest.to_bytes()).unwrap();
        (staged, manifest.digest())
    }

    #[test]
    fn installs_under_the_digest_makes_it_current_and_finds_it_by_inputs() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = ImageStore::new(store_dir.path());
        let (staged, digest) = write_image(store_dir.path(), [b"k", b"i", b"r"]);
        let key = Sha256Hex::of_bytes(b"inputs");
        let image = store.install(&staged, &digest, &key).unwrap();
        assert_eq!(image.dir, store_dir.path().join(digest.as_str()));
        assert_eq!(image.digest, digest);
        assert_eq!(store.current_digest(), Some(digest.clone()));
        assert_eq!(
            store.find_by_inputs(&key).map(|i| i.digest),
            Some(digest.clone())
        );
        assert!(store
            .find_by_inputs(&Sha256Hex::of_bytes(b"other"))
            .is_none());
        assert_eq!(store.find(&digest.as_str()[..8]).unwrap().digest, digest);
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].current);
    }

    #[test]
    fn an_incomplete_image_is_not_reused() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = ImageStore::new(store_dir.path());
        let (staged, digest) = write_image(store_dir.path(), [b"k", b"i", b"r"]);
        let key = Sha256Hex::of_bytes(b"inputs");
        let image = store.install(&staged, &digest, &key).unwrap();
        std::fs::remove_file(image.rootfs()).unwrap();
        assert!(store.find_by_inputs(&key).is_none());
    }

    #[test]
    fn find_rejects_short_and_ambiguous_prefixes() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = ImageStore::new(store_dir.path());
        let err = store.find("ab").unwrap_err().to_string();
        assert!(err.contains("at least 4"), "{err}");
        let err = store.find("abcd").unwrap_err().to_string();
        assert!(err.contains("no image"), "{err}");
    }
}
