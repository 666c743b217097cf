//! `hrun image ls` and `hrun image verify` end to end over a small store made by the test (an
//! image whose files are a few bytes, with a real manifest), and `hrun image build`'s error for
//! a missing agent. Building a real image is the slow test in images/tests/reproducible.rs.

use std::path::Path;
use std::process::{Command, Output};

use images::manifest::{
    Component, InitrdRecord, KernelRecord, Manifest, NodeRecord, RootfsRecord, MANIFEST_FORMAT,
};
use images::node::{NodeInstall, NodePin};
use images::packages::DebPackage;
use images::{apt_sources, ImageDir, ImageStore, Recipe, Sha256Hex};

fn hrun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args(args)
        .env("HRUN_CACHE", "/nonexistent/hrun-cache")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Installs an image of three tiny files into the store at `root`.
fn small_image(root: &Path) -> ImageDir {
    let staged = root.join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    let mut components = Vec::new();
    for (name, file) in [
        ("kernel", "vmlinuz"),
        ("initrd", "initrd.img"),
        ("rootfs", "rootfs.ext4"),
    ] {
        let bytes = format!("{name} bytes");
        std::fs::write(staged.join(file), &bytes).unwrap();
        components.push(Component {
            name: name.into(),
            file: file.into(),
            sha256: Sha256Hex::of_bytes(bytes.as_bytes()),
            size: bytes.len() as u64,
        });
    }
    let digest = |s: &str| Sha256Hex::of_bytes(s.as_bytes());
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        source_date_epoch: images::DEFAULT_SOURCE_DATE_EPOCH,
        components,
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
            modules: Vec::new(),
        },
        rootfs: RootfsRecord {
            blocks: 1,
            inodes: 1,
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
        inputs: Recipe::bookworm(
            apt_sources::default_sources("bookworm"),
            images::DEFAULT_SOURCE_DATE_EPOCH,
        ),
    };
    std::fs::write(staged.join("manifest.json"), manifest.to_bytes()).unwrap();
    ImageStore::new(root)
        .install(&staged, &manifest.digest(), &digest("inputs"))
        .unwrap()
}

#[test]
fn ls_lists_the_current_image_with_its_kernel_and_package_count() {
    let store = tempfile::tempdir().unwrap();
    let store_arg = store.path().to_str().unwrap();
    let empty = hrun(&["image", "ls", "--store", store_arg]);
    assert_eq!(empty.status.code(), Some(0));
    assert!(
        text(&empty.stdout).contains("no images"),
        "{}",
        text(&empty.stdout)
    );

    let image = small_image(store.path());
    let listed = hrun(&["image", "ls", "--store", store_arg]);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let out = text(&listed.stdout);
    let row = out
        .lines()
        .find(|l| l.contains(image.digest.short(16)))
        .unwrap_or_else(|| panic!("no row for the image in\n{out}"));
    assert!(row.starts_with('*'), "current is marked: {row}");
    assert!(row.contains("6.1.0-56-cloud-amd64"), "{row}");
    assert!(row.trim_end().ends_with(" 1"), "one package: {row}");

    let json = hrun(&["image", "ls", "--store", store_arg, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value[0]["digest"], image.digest.as_str());
    assert_eq!(value[0]["current"], true);
    assert_eq!(value[0]["packages"], 1);
}

#[test]
fn verify_exits_0_for_an_intact_image_and_1_naming_a_changed_file() {
    let store = tempfile::tempdir().unwrap();
    let store_arg = store.path().to_str().unwrap();
    let image = small_image(store.path());
    let ok = hrun(&["image", "verify", "--store", store_arg]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).starts_with("ok: image "),
        "{}",
        text(&ok.stdout)
    );

    std::fs::write(image.rootfs(), "rootfs bytez").unwrap();
    let bad = hrun(&[
        "image",
        "verify",
        image.digest.short(8),
        "--store",
        store_arg,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(err.contains("mismatch: rootfs.ext4: sha256 is "), "{err}");

    let by_dir = hrun(&["image", "verify", image.dir.to_str().unwrap()]);
    assert_eq!(by_dir.status.code(), Some(1));
}

#[test]
fn verify_exits_2_when_there_is_no_such_image() {
    let store = tempfile::tempdir().unwrap();
    let store_arg = store.path().to_str().unwrap();
    let none = hrun(&["image", "verify", "--store", store_arg]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        text(&none.stderr).contains("no current image"),
        "{}",
        text(&none.stderr)
    );
    let missing = hrun(&["image", "verify", "/nonexistent/image/dir"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn build_without_an_agent_names_the_build_script() {
    let store = tempfile::tempdir().unwrap();
    let out = hrun(&[
        "image",
        "build",
        "--out",
        store.path().to_str().unwrap(),
        "--agent",
        "/nonexistent/hrun-guest-agent",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no guest agent at /nonexistent/hrun-guest-agent"),
        "{err}"
    );
    assert!(err.contains("ci/build-agent.sh"), "{err}");
}
