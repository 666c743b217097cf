//! Unpacking hostile tarballs, built byte for byte: traversal, absolute paths, escaping and
//! chained links, writes through links, caps, refused entry kinds, the commit check.

use std::io::Write;

use std::os::unix::fs::PermissionsExt;

use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// One tar entry written byte for byte, so tests can build archives `tar::Builder` refuses to.
enum Raw<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Fifo(&'a str),
    Global(&'a str),
}

fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let field = &mut header.as_old_mut().name;
    let bytes = name.as_bytes();
    field[..bytes.len()].copy_from_slice(bytes);
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header
}

fn tar_gz(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut tar = Vec::new();
    let mut push = |mut header: tar::Header, data: &[u8]| {
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    };
    for entry in entries {
        match *entry {
            Raw::Dir(name) => push(header(name, EntryType::Directory, 0, 0o755), b""),
            Raw::File(name, data, mode) => push(
                header(name, EntryType::Regular, data.len() as u64, mode),
                data,
            ),
            Raw::Link(name, target) | Raw::Hard(name, target) => {
                let kind = match entry {
                    Raw::Link(..) => EntryType::Symlink,
                    _ => EntryType::Link,
                };
                let mut h = header(name, kind, 0, 0o777);
                let field = &mut h.as_old_mut().linkname;
                field[..target.len()].copy_from_slice(target.as_bytes());
                push(h, b"");
            }
            Raw::Fifo(name) => push(header(name, EntryType::Fifo, 0, 0o644), b""),
            Raw::Global(commit) => {
                let record = format!("52 comment={commit}\n");
                push(
                    header(
                        "pax_global_header",
                        EntryType::XGlobalHeader,
                        record.len() as u64,
                        0o644,
                    ),
                    record.as_bytes(),
                );
            }
        }
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

fn unpack(entries: &[Raw<'_>]) -> (tempfile::TempDir, Result<Unpacked, UnpackError>) {
    unpack_with(entries, &UnpackLimits::default())
}

fn unpack_with(
    entries: &[Raw<'_>],
    limits: &UnpackLimits,
) -> (tempfile::TempDir, Result<Unpacked, UnpackError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).expect("tree dir");
    let result = unpack_tar_gz(&tar_gz(entries)[..], &tree, Some(SHA), limits);
    (dir, result)
}

/// Everything under the temp dir, outside `tree/`, that the unpacking created.
fn escaped(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tree")
        .collect();
    names.sort();
    names
}

#[test]
fn strips_the_top_level_directory_and_keeps_executable_bits_and_inner_links() {
    let (dir, result) = unpack(&[
        Raw::Global(SHA),
        Raw::Dir("o-r-0123456/"),
        Raw::File("o-r-0123456/action.yml", b"name: x\n", 0o644),
        Raw::File("o-r-0123456/bin/run.sh", b"#!/bin/sh\n", 0o775),
        Raw::Link("o-r-0123456/bin/main", "../action.yml"),
    ]);
    let unpacked = result.expect("unpacks");
    assert_eq!(unpacked.files, 2);
    assert_eq!(unpacked.bytes, 18);
    assert_eq!(unpacked.commit.as_deref(), Some(SHA));
    let tree = dir.path().join("tree");
    assert_eq!(
        std::fs::read(tree.join("action.yml")).expect("action.yml"),
        b"name: x\n"
    );
    let mode = |p: &str| {
        std::fs::metadata(tree.join(p))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("bin/run.sh"), 0o755);
    assert_eq!(mode("action.yml"), 0o644);
    assert_eq!(
        std::fs::read_link(tree.join("bin/main")).expect("link"),
        Path::new("../action.yml")
    );
}

#[test]
fn refuses_parent_directory_traversal() {
    let (dir, result) = unpack(&[Raw::Dir("top/"), Raw::File("top/../../evil", b"x", 0o644)]);
    let err = result.expect_err("traversal refused");
    assert!(
        matches!(&err, UnpackError::BadPath { path, reason: PathError::ParentComponent } if path == "top/../../evil"),
        "{err}"
    );
    assert!(escaped(&dir).is_empty());
}

#[test]
fn refuses_absolute_paths() {
    let (_dir, result) = unpack(&[Raw::File("/tmp/evil", b"x", 0o644)]);
    assert!(matches!(
        result,
        Err(UnpackError::BadPath {
            reason: PathError::Absolute,
            ..
        })
    ));
}

#[test]
fn refuses_a_symlink_that_leads_out_of_the_tree() {
    let (dir, result) = unpack(&[Raw::Dir("top/"), Raw::Link("top/a/escape", "../../x")]);
    let err = result.expect_err("escape refused");
    assert!(
        matches!(
            &err,
            UnpackError::BadLink {
                reason: PathError::LinkEscapes { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(!dir.path().join("tree/a/escape").exists());
    let (_dir, result) = unpack(&[Raw::Dir("top/"), Raw::Link("top/etc", "/etc")]);
    assert!(matches!(
        result,
        Err(UnpackError::BadLink {
            reason: PathError::AbsoluteLinkTarget { .. },
            ..
        })
    ));
}

#[test]
fn refuses_a_symlink_that_climbs_through_another_link() {
    // `s -> .` is harmless alone; `t -> s/../x` normalizes inside but resolves outside.
    let (_dir, result) = unpack(&[
        Raw::Dir("top/"),
        Raw::Link("top/s", "."),
        Raw::Link("top/t", "s/../x"),
    ]);
    assert!(matches!(
        result,
        Err(UnpackError::BadLink {
            reason: PathError::LinkClimbsAfterName { .. },
            ..
        })
    ));
}

#[test]
fn refuses_to_write_through_a_symlink() {
    let (dir, result) = unpack(&[
        Raw::Dir("top/"),
        Raw::Link("top/s", "."),
        Raw::Link("top/s/t", "../x"),
    ]);
    let err = result.expect_err("write through link refused");
    assert!(
        matches!(&err, UnpackError::Place(PlaceError::ThroughLink { link, .. }) if link == "s"),
        "{err}"
    );
    assert!(std::fs::symlink_metadata(dir.path().join("tree/t")).is_err());
}

#[test]
fn refuses_replacing_a_symlink_with_a_file() {
    let (dir, result) = unpack(&[
        Raw::Dir("top/"),
        Raw::Link("top/f", "g"),
        Raw::File("top/f", b"x", 0o644),
    ]);
    assert!(
        matches!(result, Err(UnpackError::Place(PlaceError::Duplicate { ref path })) if path == "f")
    );
    assert!(!dir.path().join("tree/g").exists());
}

#[test]
fn caps_the_decompressed_size() {
    let big = vec![0u8; 256 * 1024];
    let limits = UnpackLimits {
        max_bytes: 64 * 1024,
        max_entries: 100,
    };
    let (_dir, result) = unpack_with(
        &[Raw::Dir("top/"), Raw::File("top/zeros", &big, 0o644)],
        &limits,
    );
    assert!(
        matches!(result, Err(UnpackError::TooLarge { max }) if max == 64 * 1024),
        "{result:?}"
    );
}

#[test]
fn caps_the_entry_count() {
    let names: Vec<String> = (0..20).map(|i| format!("top/f{i}")).collect();
    let mut entries = vec![Raw::Dir("top/")];
    entries.extend(names.iter().map(|n| Raw::File(n, b"", 0o644)));
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 10,
    };
    let (_dir, result) = unpack_with(&entries, &limits);
    assert!(matches!(
        result,
        Err(UnpackError::TooManyEntries { max: 10 })
    ));
}

#[test]
fn refuses_hard_links_and_fifos() {
    let (_dir, result) = unpack(&[
        Raw::Dir("top/"),
        Raw::File("top/a", b"x", 0o644),
        Raw::Hard("top/b", "top/a"),
    ]);
    assert!(matches!(result, Err(UnpackError::HardLink { .. })));
    let (_dir, result) = unpack(&[Raw::Dir("top/"), Raw::Fifo("top/p")]);
    assert!(matches!(result, Err(UnpackError::Unsupported { ref kind, .. }) if kind == "FIFO"));
}

#[test]
fn refuses_a_second_top_level_directory_or_a_top_level_file() {
    let (_dir, result) = unpack(&[Raw::Dir("a/"), Raw::File("b/x", b"", 0o644)]);
    assert!(matches!(result, Err(UnpackError::OutsideTopLevel { .. })));
    let (_dir, result) = unpack(&[Raw::File("README", b"", 0o644)]);
    assert!(matches!(result, Err(UnpackError::FileAtTopLevel { .. })));
}

#[test]
fn refuses_a_tarball_of_another_commit() {
    let other = "fedcba9876543210fedcba9876543210fedcba98";
    let (_dir, result) = unpack(&[Raw::Global(other), Raw::Dir("top/")]);
    assert!(matches!(result, Err(UnpackError::CommitMismatch { ref found, .. }) if found == other));
}

#[test]
fn refuses_an_empty_archive_and_garbage() {
    let (_dir, result) = unpack(&[]);
    assert!(matches!(result, Err(UnpackError::Empty)));
    let dir = tempfile::tempdir().expect("temp dir");
    let result = unpack_tar_gz(
        &b"not gzip at all"[..],
        dir.path(),
        None,
        &UnpackLimits::default(),
    );
    assert!(matches!(result, Err(UnpackError::Read(_))));
}

#[test]
fn reads_long_names_and_link_targets_from_gnu_and_pax_extensions() {
    let long_dir = "d".repeat(120);
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    builder
        .append_data(&mut dir, "top/", std::io::empty())
        .expect("dir");
    let mut file = tar::Header::new_gnu();
    file.set_size(2);
    file.set_mode(0o644);
    builder
        .append_data(&mut file, format!("top/{long_dir}/f"), &b"hi"[..])
        .expect("long name");
    let target = format!("{long_dir}/f");
    builder
        .append_pax_extensions([("linkpath", target.as_bytes())])
        .expect("pax");
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    link.set_path("top/l").expect("path");
    link.set_cksum();
    builder.append(&link, std::io::empty()).expect("link");
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let dir = tempfile::tempdir().expect("temp dir");
    unpack_tar_gz(&gz[..], dir.path(), None, &UnpackLimits::default()).expect("unpacks");
    assert_eq!(
        std::fs::read(dir.path().join(&long_dir).join("f")).expect("long file"),
        b"hi"
    );
    assert_eq!(
        std::fs::read_link(dir.path().join("l")).expect("link"),
        Path::new(&target)
    );
}
