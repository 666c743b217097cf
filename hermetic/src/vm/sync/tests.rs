//! End-to-end sync: scan, diff, pack, apply, and hostile deltas.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

/// What a tree holds, for comparing two trees: kind, permission bits, content or link target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (char, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let manifest = Manifest::scan(root).unwrap();
    for (rel, entry) in manifest.iter() {
        let path = root.join(rel.as_path());
        let value = match &entry.kind {
            EntryKind::Dir => ('d', entry.mode, Vec::new()),
            EntryKind::File { .. } => ('f', entry.mode, fs::read(&path).unwrap()),
            EntryKind::Symlink { target } => {
                ('l', 0, target.as_os_str().as_encoded_bytes().to_vec())
            }
        };
        out.insert(rel.as_path().to_path_buf(), value);
    }
    out
}

/// Sends what changed in `src` since `before` to `dst`; returns the new manifest of `src`.
fn sync(src: &Path, before: &Manifest, dst: &Path) -> Result<Manifest, SyncError> {
    let now = Manifest::scan(src)?;
    let changes = before.diff(&now);
    let mut tar = Vec::new();
    write_tar(src, &changes, &mut tar)?;
    let mut removed = Vec::new();
    for chunk in removal_chunks(&changes.removed, 100) {
        removed.extend(parse_removal_chunk(&chunk)?);
    }
    apply_removals(dst, &removed)?;
    apply_tar(dst, tar.as_slice(), &ApplyOptions::default())?;
    Ok(now)
}

#[test]
fn pushes_a_whole_tree_then_only_its_changes() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let s = src.path();
    fs::create_dir_all(s.join("a/b")).unwrap();
    fs::write(s.join("a/b/file"), b"content").unwrap();
    fs::write(s.join("script.sh"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(s.join("script.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(s.join("a/b"), fs::Permissions::from_mode(0o700)).unwrap();
    symlink("b/file", s.join("a/rel-link")).unwrap();
    symlink("/etc/passwd", s.join("abs-link")).unwrap();
    fs::write(s.join("a/to-remove"), b"x").unwrap();
    fs::create_dir_all(s.join("dir-to-remove/inner")).unwrap();
    fs::write(s.join("dir-to-remove/inner/f"), b"x").unwrap();
    fs::write(s.join("file-to-dir"), b"x").unwrap();
    fs::create_dir(s.join("dir-to-link")).unwrap();
    fs::write(s.join(format!("{}-long", "n".repeat(200))), b"long name").unwrap();

    let first = sync(s, &Manifest::empty(), dst.path()).unwrap();
    assert_eq!(snapshot(s), snapshot(dst.path()));
    let mtime = fs::metadata(dst.path().join("a/b/file")).unwrap().mtime();
    assert_eq!(mtime, fs::metadata(s.join("a/b/file")).unwrap().mtime());

    fs::write(s.join("a/b/file"), b"changed content").unwrap();
    fs::set_permissions(s.join("script.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(s.join("a/to-remove")).unwrap();
    fs::remove_dir_all(s.join("dir-to-remove")).unwrap();
    fs::remove_file(s.join("file-to-dir")).unwrap();
    fs::create_dir(s.join("file-to-dir")).unwrap();
    fs::write(s.join("file-to-dir/inside"), b"y").unwrap();
    fs::remove_dir(s.join("dir-to-link")).unwrap();
    symlink("a", s.join("dir-to-link")).unwrap();
    fs::remove_file(s.join("a/rel-link")).unwrap();
    symlink("elsewhere", s.join("a/rel-link")).unwrap();
    fs::write(s.join("added"), b"new").unwrap();

    let changes = first.diff(&Manifest::scan(s).unwrap());
    assert!(!changes
        .written
        .iter()
        .any(|p| p.as_path() == Path::new("abs-link")));
    sync(s, &first, dst.path()).unwrap();
    assert_eq!(snapshot(s), snapshot(dst.path()));
}

#[test]
fn never_packs_what_a_link_points_to() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"host secret").unwrap();
    let src = tempfile::tempdir().unwrap();
    symlink(outside.path(), src.path().join("escape")).unwrap();
    let changes = Manifest::empty().diff(&Manifest::scan(src.path()).unwrap());
    let mut tar = Vec::new();
    write_tar(src.path(), &changes, &mut tar).unwrap();
    assert!(!tar.windows(11).any(|w| w == b"host secret"));
    assert_eq!(changes.written.len(), 1);
}

#[test]
fn strips_set_id_bits_and_applies_the_owner() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    fs::write(src.path().join("suid"), b"x").unwrap();
    fs::set_permissions(src.path().join("suid"), fs::Permissions::from_mode(0o6755)).unwrap();
    fs::create_dir(src.path().join("d")).unwrap();
    let changes = Manifest::empty().diff(&Manifest::scan(src.path()).unwrap());
    let mut tar = Vec::new();
    write_tar(src.path(), &changes, &mut tar).unwrap();
    let options = ApplyOptions {
        owner: nix::unistd::geteuid().is_root().then_some((4242, 4343)),
        ..ApplyOptions::default()
    };
    apply_tar(dst.path(), tar.as_slice(), &options).unwrap();
    let meta = fs::metadata(dst.path().join("suid")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o755);
    if options.owner.is_some() {
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
        let dir = fs::metadata(dst.path().join("d")).unwrap();
        assert_eq!((dir.uid(), dir.gid()), (4242, 4343));
    }
}

/// One raw tar entry with any name (the tar crate refuses to write hostile names itself).
fn raw_entry(name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    let old = h.as_old_mut();
    old.name.fill(0);
    for (d, s) in old.name.iter_mut().zip(name) {
        *d = *s;
    }
    for (d, s) in old.linkname.iter_mut().zip(link) {
        *d = *s;
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn end_marker() -> Vec<u8> {
    vec![0; 1024]
}

fn apply_raw(dst: &Path, entries: &[Vec<u8>]) -> Result<crate::vm::protocol::SyncStats, SyncError> {
    let mut tar: Vec<u8> = entries.concat();
    tar.extend(end_marker());
    apply_tar(dst, tar.as_slice(), &ApplyOptions::default())
}

#[test]
fn rejects_parent_and_absolute_names() {
    let root = tempfile::tempdir().unwrap();
    let dst = root.path().join("dst");
    fs::create_dir(&dst).unwrap();
    for name in [&b"../escaped"[..], b"a/../../escaped", b"/tmp/escaped-abs"] {
        let err = apply_raw(
            &dst,
            &[raw_entry(name, tar::EntryType::Regular, b"", b"pwned")],
        );
        assert!(matches!(err, Err(SyncError::UnsafePath { .. })), "{err:?}");
    }
    assert!(!root.path().join("escaped").exists());
    assert!(!Path::new("/tmp/escaped-abs").exists());
}

#[test]
fn rejects_writing_through_a_link_sent_earlier() {
    let outside = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let link = raw_entry(
        b"link",
        tar::EntryType::Symlink,
        outside.path().as_os_str().as_encoded_bytes(),
        b"",
    );
    let through = raw_entry(b"link/planted", tar::EntryType::Regular, b"", b"pwned");
    let err = apply_raw(dst.path(), &[link, through]);
    assert!(matches!(err, Err(SyncError::LinkInPath(_))), "{err:?}");
    assert!(!outside.path().join("planted").exists());

    // A `..` link followed by a name under it.
    let dotdot = raw_entry(b"up", tar::EntryType::Symlink, b"..", b"");
    let through = raw_entry(b"up/planted", tar::EntryType::Directory, b"", b"");
    assert!(matches!(
        apply_raw(dst.path(), &[dotdot, through]),
        Err(SyncError::LinkInPath(_))
    ));
}

#[test]
fn replaces_an_existing_link_instead_of_writing_through_it() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, b"original").unwrap();
    let dst = tempfile::tempdir().unwrap();
    symlink(&victim, dst.path().join("file")).unwrap();
    apply_raw(
        dst.path(),
        &[raw_entry(b"file", tar::EntryType::Regular, b"", b"new")],
    )
    .unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"original");
    assert!(fs::symlink_metadata(dst.path().join("file"))
        .unwrap()
        .is_file());
    assert_eq!(fs::read(dst.path().join("file")).unwrap(), b"new");
}

#[test]
fn removals_never_follow_links() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep"), b"x").unwrap();
    let dst = tempfile::tempdir().unwrap();
    symlink(outside.path(), dst.path().join("link")).unwrap();
    let through = RelPath::from_bytes(b"link/keep").unwrap();
    assert!(matches!(
        apply_removals(dst.path(), &[through]),
        Err(SyncError::LinkInPath(_))
    ));
    // Removing the link itself removes only the link.
    apply_removals(dst.path(), &[RelPath::from_bytes(b"link").unwrap()]).unwrap();
    assert!(outside.path().join("keep").exists());
    assert!(!dst.path().join("link").exists());
}

#[test]
fn rejects_hard_links_and_devices() {
    let dst = tempfile::tempdir().unwrap();
    let hard = raw_entry(b"h", tar::EntryType::Link, b"/etc/shadow", b"");
    assert!(matches!(
        apply_raw(dst.path(), &[hard]),
        Err(SyncError::UnsupportedEntry { .. })
    ));
    let dev = raw_entry(b"d", tar::EntryType::Block, b"", b"");
    assert!(matches!(
        apply_raw(dst.path(), &[dev]),
        Err(SyncError::UnsupportedEntry { .. })
    ));
}

#[test]
fn caps_the_data_and_the_entries_of_one_delta() {
    let dst = tempfile::tempdir().unwrap();
    let mut tar = raw_entry(b"big", tar::EntryType::Regular, b"", &[1u8; 2000]);
    tar.extend(end_marker());
    let small = ApplyOptions {
        max_bytes: 1000,
        ..ApplyOptions::default()
    };
    assert!(matches!(
        apply_tar(dst.path(), tar.as_slice(), &small),
        Err(SyncError::TooLarge(1000))
    ));
    let mut many = Vec::new();
    for i in 0..5 {
        many.extend(raw_entry(
            format!("f{i}").as_bytes(),
            tar::EntryType::Directory,
            b"",
            b"",
        ));
    }
    many.extend(end_marker());
    let few = ApplyOptions {
        max_entries: 3,
        ..ApplyOptions::default()
    };
    assert!(matches!(
        apply_tar(dst.path(), many.as_slice(), &few),
        Err(SyncError::TooManyEntries(3))
    ));
}

#[test]
fn refuses_a_root_that_is_a_link() {
    let real = tempfile::tempdir().unwrap();
    let holder = tempfile::tempdir().unwrap();
    symlink(real.path(), holder.path().join("root")).unwrap();
    assert!(matches!(
        apply_raw(&holder.path().join("root"), &[]),
        Err(SyncError::NotADirectory(_))
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Write(u8, u8, Vec<u8>),
    Mkdir(u8),
    Link(u8, u8),
    Remove(u8, u8),
    RemoveDir(u8),
    Chmod(u8, u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0u8..3,
            0u8..4,
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(d, f, c)| Op::Write(d, f, c)),
        (0u8..3).prop_map(Op::Mkdir),
        (0u8..3, 0u8..4).prop_map(|(d, f)| Op::Link(d, f)),
        (0u8..3, 0u8..4).prop_map(|(d, f)| Op::Remove(d, f)),
        (0u8..3).prop_map(Op::RemoveDir),
        (0u8..3, 0u8..4, any::<bool>()).prop_map(|(d, f, x)| Op::Chmod(d, f, x)),
    ]
}

fn run_op(root: &Path, op: &Op) {
    let dir = |d: u8| {
        if d == 0 {
            root.to_path_buf()
        } else {
            root.join(format!("d{d}"))
        }
    };
    let file = |d: u8, f: u8| dir(d).join(format!("f{f}"));
    // Each operation may fail (a missing directory, a file where a directory is): that is fine,
    // the tree is whatever it became.
    let _ = match op {
        Op::Write(d, f, content) => {
            let _ = fs::remove_file(file(*d, *f));
            fs::write(file(*d, *f), content)
        }
        Op::Mkdir(d) => fs::create_dir(dir(*d)),
        Op::Link(d, f) => {
            let _ = fs::remove_file(file(*d, *f));
            symlink(format!("target-{f}"), file(*d, *f))
        }
        Op::Remove(d, f) => fs::remove_file(file(*d, *f)),
        Op::RemoveDir(d) if *d != 0 => fs::remove_dir_all(dir(*d)),
        Op::RemoveDir(_) => Ok(()),
        Op::Chmod(d, f, x) => {
            let mode = if *x { 0o755 } else { 0o600 };
            fs::set_permissions(file(*d, *f), fs::Permissions::from_mode(mode))
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_sequence_of_changes_syncs_to_an_equal_tree(
        first in proptest::collection::vec(op(), 0..12),
        second in proptest::collection::vec(op(), 0..12),
    ) {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        for o in &first {
            run_op(src.path(), o);
        }
        let m = sync(src.path(), &Manifest::empty(), dst.path()).unwrap();
        prop_assert_eq!(snapshot(src.path()), snapshot(dst.path()));
        // Same-second rewrites of equal size are invisible to a manifest; step past the second.
        std::thread::sleep(std::time::Duration::from_millis(20));
        for o in &second {
            run_op(src.path(), o);
        }
        sync(src.path(), &m, dst.path()).unwrap();
        prop_assert_eq!(snapshot(src.path()), snapshot(dst.path()));
    }
}
