//! An image build from start to end: decide from the inputs whether the store already has the
//! image; otherwise bootstrap the rootfs tree, take the kernel and its modules, write the
//! initramfs, customise and pack the rootfs, write the manifest, and move the image into the
//! store under its digest. Each stage is announced to a [`BuildProgress`], which the CLI shows
//! as a progress bar.
//!
//! Everything is built in a scratch directory inside the store, removed at the end whether the
//! build succeeded or not.

use std::path::Path;

use crate::agent;
use crate::digest::Sha256Hex;
use crate::error::ImageError;
use crate::ext4;
use crate::initrd;
use crate::kernel;
use crate::manifest::{
    Component, InitrdRecord, KernelRecord, Manifest, NodeRecord, RootfsRecord, INITRD_FILE,
    KERNEL_FILE, MANIFEST_FILE, MANIFEST_FORMAT, ROOTFS_FILE,
};
use crate::recipe::{self, BuildInputs, Recipe};
use crate::rootfs;
use crate::scratch::ScratchDir;
use crate::store::{ImageDir, ImageStore};
use crate::tool;

/// The stages of a build, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Hash the agent, read the mirror's state, look for a cached image, fetch node.
    Inputs,
    /// mmdebstrap: the Debian tree and the kernel package.
    Bootstrap,
    /// Unpack the kernel, resolve the modules.
    Kernel,
    Initrd,
    /// Job user, node, host files, Python caches.
    Customise,
    /// Normalise times, mkfs.ext4, fix inode times, fsck.
    Pack,
    /// Hash the components, write the manifest, install into the store.
    Manifest,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Inputs,
        Stage::Bootstrap,
        Stage::Kernel,
        Stage::Initrd,
        Stage::Customise,
        Stage::Pack,
        Stage::Manifest,
    ];

    /// 1-based position among [`Stage::ALL`].
    pub fn number(self) -> usize {
        Stage::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }

    pub fn label(self) -> &'static str {
        match self {
            Stage::Inputs => "inputs: agent, mirror state, node",
            Stage::Bootstrap => "rootfs: mmdebstrap",
            Stage::Kernel => "kernel: unpack, modules",
            Stage::Initrd => "initramfs",
            Stage::Customise => "rootfs: job user, node, python caches",
            Stage::Pack => "rootfs: mkfs.ext4",
            Stage::Manifest => "manifest and store",
        }
    }
}

/// Receives a build's progress: the start of each stage, and lines of detail within one.
pub trait BuildProgress {
    fn stage(&mut self, stage: Stage);
    fn detail(&mut self, text: &str);
}

/// A progress receiver that ignores everything.
pub struct NoProgress;

impl BuildProgress for NoProgress {
    fn stage(&mut self, _: Stage) {}
    fn detail(&mut self, _: &str) {}
}

/// What to build and where.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub store: &'a ImageStore,
    /// Where downloads (the node tarball) are cached between builds.
    pub downloads: &'a Path,
    /// The guest agent binary, which becomes `/init`.
    pub agent: &'a Path,
    pub recipe: Recipe,
    /// Build even when the store has an image for the same inputs.
    pub force: bool,
}

#[derive(Debug)]
pub enum BuildOutcome {
    /// A new build; it is now the store's current image.
    Built(ImageDir),
    /// The store had an image built from the same inputs; it is now current.
    Reused(ImageDir),
}

impl BuildOutcome {
    pub fn image(&self) -> &ImageDir {
        match self {
            BuildOutcome::Built(image) | BuildOutcome::Reused(image) => image,
        }
    }
}

/// Builds (or reuses) the image `request` describes.
pub fn build(
    request: &BuildRequest,
    progress: &mut dyn BuildProgress,
) -> Result<BuildOutcome, ImageError> {
    let recipe = &request.recipe;
    let store = request.store;
    progress.stage(Stage::Inputs);
    let agent = agent::load(request.agent)?;
    progress.detail("reading the mirror's package indexes");
    let inputs = BuildInputs {
        recipe: recipe.clone(),
        agent_sha256: agent.sha256.clone(),
        mirror: recipe::mirror_state(&recipe.sources)?,
    };
    let key = inputs.key();
    if !request.force {
        if let Some(image) = store.find_by_inputs(&key) {
            store.set_current(&image.digest)?;
            return Ok(BuildOutcome::Reused(image));
        }
    }
    for tool in tool::ALL {
        tool.locate()?;
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(ImageError::NeedsRoot);
    }
    progress.detail("fetching node");
    let node_tarball = recipe.node.fetch(request.downloads)?;

    let scratch = ScratchDir::create(store.root())?;
    let work = scratch.path();
    let tree = work.join("rootfs");
    let kernel_download = work.join("kernel-download");
    let out = work.join("image");
    std::fs::create_dir_all(&out).map_err(ImageError::io("create", &out))?;

    progress.stage(Stage::Bootstrap);
    rootfs::bootstrap(recipe, &tree, &kernel_download, work, &mut |line| {
        progress.detail(line)
    })?;

    progress.stage(Stage::Kernel);
    let deb = kernel::find_downloaded(&kernel_download, &recipe.kernel_package)?;
    progress.detail(&format!("{} {}", deb.package, deb.version));
    let kernel = kernel::unpack(&deb, &work.join("kernel"))?;
    let vmlinuz = out.join(KERNEL_FILE);
    std::fs::copy(&kernel.vmlinuz, &vmlinuz).map_err(ImageError::io("copy", &kernel.vmlinuz))?;
    let order = kernel.module_index()?.load_order(&recipe.modules)?;

    progress.stage(Stage::Initrd);
    let initrd_path = out.join(INITRD_FILE);
    let contents = initrd::write(
        &initrd_path,
        &agent,
        &kernel,
        &order,
        recipe.source_date_epoch,
    )?;

    progress.stage(Stage::Customise);
    let customised = rootfs::customise(recipe, &tree, &node_tarball)?;

    progress.stage(Stage::Pack);
    let rootfs_path = out.join(ROOTFS_FILE);
    let geometry = ext4::pack(
        &tree,
        &rootfs_path,
        recipe.source_date_epoch,
        &recipe.rootfs_identity,
        work,
    )?;

    progress.stage(Stage::Manifest);
    let mut components = Vec::new();
    for (name, file) in [
        ("kernel", KERNEL_FILE),
        ("initrd", INITRD_FILE),
        ("rootfs", ROOTFS_FILE),
    ] {
        let path = out.join(file);
        let (sha256, size) = Sha256Hex::of_file(&path).map_err(ImageError::io("read", &path))?;
        components.push(Component {
            name: name.into(),
            file: file.into(),
            sha256,
            size,
        });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        source_date_epoch: recipe.source_date_epoch,
        components,
        kernel: KernelRecord {
            package: deb.package,
            version: deb.version,
            deb_sha256: deb.sha256,
            meta_package: deb.meta_package,
            meta_version: deb.meta_version,
            release: kernel.release,
        },
        initrd: InitrdRecord {
            agent_sha256: agent.sha256,
            agent_size: agent.bytes.len() as u64,
            modules: contents.modules,
        },
        rootfs: RootfsRecord {
            blocks: geometry.blocks,
            inodes: geometry.inodes,
            node: NodeRecord::new(&recipe.node, customised.node),
            packages: customised.packages,
        },
        inputs: recipe.clone(),
    };
    let manifest_path = out.join(MANIFEST_FILE);
    std::fs::write(&manifest_path, manifest.to_bytes())
        .map_err(ImageError::io("write", &manifest_path))?;
    let image = store.install(&out, &manifest.digest(), &key)?;
    drop(scratch);
    Ok(BuildOutcome::Built(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_numbered_from_one_in_order() {
        let numbers: Vec<usize> = Stage::ALL.iter().map(|s| s.number()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
    }
}
