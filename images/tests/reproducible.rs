//! End to end: two image builds from the same inputs, into two different stores (one under
//! `$HRUN_CACHE`, one under the temporary directory), give the same digest and byte-identical
//! components; the result verifies, and a changed byte is named.
//!
//! Slow (minutes: two mmdebstrap runs) and needs root and the Debian mirror, so it runs only with
//! `HRUN_SLOW_TESTS=1`; otherwise it prints a `SKIP` line. The agent is `$HRUN_IMAGE_AGENT`, or
//! busybox-static (any static x86-64 binary makes a valid image; booting it is not tested here).

use std::path::{Path, PathBuf};
use std::time::Instant;

use images::{apt_sources, build, BuildOutcome, BuildRequest, ImageStore, NoProgress, Recipe};

fn skip(reason: &str) {
    println!("SKIP two_builds_give_the_same_digest: {reason}");
}

fn agent() -> Option<PathBuf> {
    std::env::var_os("HRUN_IMAGE_AGENT")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/bin/busybox")))
        .filter(|p| p.is_file())
}

fn build_into(store: &ImageStore, downloads: &Path, agent: &Path, force: bool) -> BuildOutcome {
    let recipe = Recipe::bookworm(
        apt_sources::from_host("bookworm"),
        images::DEFAULT_SOURCE_DATE_EPOCH,
    );
    let request = BuildRequest {
        store,
        downloads,
        agent,
        recipe,
        force,
    };
    let started = Instant::now();
    let outcome = build(&request, &mut NoProgress).expect("the image builds");
    println!(
        "build into {}: {:?} in {:.0}s",
        store.root().display(),
        outcome.image().digest,
        started.elapsed().as_secs_f64()
    );
    outcome
}

#[test]
fn two_builds_give_the_same_digest() {
    if std::env::var_os("HRUN_SLOW_TESTS").is_none_or(|v| v != "1") {
        return skip("slow (two image builds); set HRUN_SLOW_TESTS=1");
    }
    if !nix::unistd::geteuid().is_root() {
        return skip("mmdebstrap --mode=root needs root");
    }
    if let Some(missing) = images::tool::ALL.iter().find(|t| t.locate().is_err()) {
        return skip(&format!(
            "{} is not installed (bash ci/setup-image.sh)",
            missing.program
        ));
    }
    let Some(agent) = agent() else {
        return skip("no static agent: set HRUN_IMAGE_AGENT or install busybox-static");
    };
    // Two stores in places as different as a build meets: the cache (under root's home, which
    // apt's `_apt` user cannot enter) and the world-readable temporary directory.
    let cache = std::env::var_os("HRUN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&cache).unwrap();
    let in_cache = tempfile::tempdir_in(&cache).unwrap();
    let in_tmp = tempfile::tempdir().unwrap();
    let downloads = cache.join("downloads");
    let first = ImageStore::new(in_cache.path().join("first"));
    let second = ImageStore::new(in_tmp.path().join("second"));

    let a = build_into(&first, &downloads, &agent, true);
    let b = build_into(&second, &downloads, &agent, true);
    let (a, b) = (a.image(), b.image());
    assert_eq!(a.manifest, b.manifest);
    assert_eq!(a.digest, b.digest, "same inputs, same digest");
    for file in ["vmlinuz", "initrd.img", "rootfs.ext4", "manifest.json"] {
        let bytes_a = std::fs::read(a.dir.join(file)).unwrap();
        let bytes_b = std::fs::read(b.dir.join(file)).unwrap();
        assert!(bytes_a == bytes_b, "{file} differs between the two builds");
    }
    assert!(images::verify(&a.dir).unwrap().is_ok());
    assert_eq!(first.current_digest(), Some(a.digest.clone()));

    // Unchanged inputs: the store's image is reused, not rebuilt.
    let again = build_into(&first, &downloads, &agent, false);
    assert!(matches!(again, BuildOutcome::Reused(_)));
    assert_eq!(again.image().digest, a.digest);

    // One changed byte in the rootfs is named by verify.
    let rootfs = b.dir.join("rootfs.ext4");
    let mut bytes = std::fs::read(&rootfs).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&rootfs, bytes).unwrap();
    let verification = images::verify(&b.dir).unwrap();
    assert_eq!(verification.problems.len(), 1);
    assert!(verification.problems[0].starts_with("rootfs.ext4: sha256 is "));

    let manifest = &a.manifest;
    assert!(manifest.rootfs.packages.iter().any(|p| p.name == "git"));
    assert!(manifest.kernel.package.starts_with("linux-image-"));
    assert!(manifest
        .initrd
        .modules
        .iter()
        .any(|m| m.ends_with("/virtio_mmio.ko")));
    println!(
        "image {}: {} bytes, kernel {}, {} packages",
        a.digest,
        a.size(),
        a.kernel_release(),
        manifest.rootfs.packages.len()
    );
}
