//! Reproducible guest images for Hermetic Runner's microVMs: a Debian cloud kernel, an
//! initramfs whose `/init` is the guest agent, and a Debian root file system packed as ext4,
//! each pinned by SHA-256 in a manifest whose own digest names the image.
//!
//! ```no_run
//! use images::{apt_sources, build, BuildOutcome, BuildRequest, ImageStore, NoProgress, Recipe};
//! use std::path::Path;
//!
//! let store = ImageStore::in_cache(Path::new("/root/.cache/hrun"));
//! let recipe = Recipe::bookworm(apt_sources::from_host("bookworm"), images::DEFAULT_SOURCE_DATE_EPOCH);
//! let request = BuildRequest {
//!     store: &store,
//!     downloads: Path::new("/root/.cache/hrun/downloads"),
//!     agent: Path::new("target/release/hrun-guest-agent"),
//!     recipe,
//!     force: false,
//! };
//! let outcome = build(&request, &mut NoProgress)?;
//! let image = outcome.image();
//! println!("{} {}", image.digest, image.kernel_release());
//! assert!(images::verify(&image.dir)?.is_ok());
//! # Ok::<(), images::ImageError>(())
//! ```
//!
//! Map of the crate, in the order a build runs:
//! - [`recipe`]: what an image is built from, and the inputs key that decides reuse;
//! - [`apt_sources`]: the Debian mirror, from the host's apt sources;
//! - [`agent`]: the agent binary, checked to be a static x86-64 executable;
//! - [`rootfs`]: mmdebstrap, then the job user, node ([`node`]), fixed host files, Python caches;
//! - [`kernel`] and [`modules`]: the kernel package, its config, the module load order;
//! - [`initrd`] over [`cpio`]: the initramfs;
//! - [`ext4`]: packing the tree reproducibly with `mkfs.ext4 -d`;
//! - [`manifest`], [`store`], [`verify`]: the image directory, the store, re-hashing.
//!
//! Reproducibility: two builds with the same recipe, agent and Debian package versions give
//! the same bytes in every file and so the same digest. Every source of difference and its
//! fix is listed where it is handled: [`rootfs`] (host files, Python caches), [`ext4`] (time
//! stamps, UUID, hash seed, mke2fs defaults, image size), [`initrd`] and [`cpio`] (order,
//! owners, times, inode numbers), [`manifest`] (nothing host-specific in it). Everything
//! builds with the time `SOURCE_DATE_EPOCH` (default [`DEFAULT_SOURCE_DATE_EPOCH`]).
//!
//! What this crate never does: mount anything (only detaches what a killed mmdebstrap left in
//! its own scratch directory), use a loop device, or write outside the store it is given and
//! the download cache.

pub mod agent;
pub mod apt_sources;
pub mod build;
pub mod cpio;
pub mod deb822;
pub mod digest;
pub mod error;
pub mod ext4;
pub mod initrd;
pub mod kernel;
pub mod manifest;
pub mod modules;
pub mod node;
pub mod packages;
pub mod recipe;
pub mod rootfs;
mod scratch;
pub mod store;
pub mod tool;
mod tree;
pub mod verify;

pub use build::{build, BuildOutcome, BuildProgress, BuildRequest, NoProgress, Stage};
pub use digest::Sha256Hex;
pub use error::ImageError;
pub use manifest::Manifest;
pub use recipe::{Recipe, DEFAULT_SOURCE_DATE_EPOCH};
pub use store::{ImageDir, ImageStore, ListedImage};
pub use verify::{verify, Verification};
