//! Packing a root file system tree into an ext4 image file with `mkfs.ext4 -d`, byte for byte
//! reproducibly and without root, loop devices or mounts.
//!
//! What would otherwise differ between two packings of the same tree, and how it is fixed:
//!
//! - mke2fs's defaults come from the host's `/etc/mke2fs.conf`: we write our own config and
//!   point `MKE2FS_CONFIG` at it (block size 4096, 256-byte inodes, a fixed feature list, no
//!   journal: the guest mounts this file system read-only).
//! - The UUID and the directory-hash seed are random: both are fixed (`-U`, `-E hash_seed=`).
//! - Superblock times and each inode's creation time are "now": e2fsprogs 1.47.0 (bookworm)
//!   takes them from `E2FSPROGS_FAKE_TIME`, set to `SOURCE_DATE_EPOCH` (1.47.1 and later also
//!   read `SOURCE_DATE_EPOCH` itself, which is set too).
//! - Access and modification times are copied from the tree: every entry's are set to
//!   `SOURCE_DATE_EPOCH` first.
//! - The change time (ctime) is copied from the tree too, and no one can set a file's ctime on
//!   disk; so after packing, `debugfs -w` sets every inode's ctime (and atime) to
//!   `SOURCE_DATE_EPOCH`, naming each path from our own walk of the tree.
//! - Directory order: mke2fs 1.47.0 reads each directory sorted by name; the locale is pinned
//!   (`LC_ALL=C.UTF-8`) so the sort does not depend on the caller's.
//! - Whether the host's file system supports punching holes changes which block groups mke2fs
//!   marks as zeroed: `nodiscard,lazy_itable_init=0` writes the inode tables itself.
//! - The image size is computed from the tree (sizes, names, inode count), not from the disk
//!   usage of the host's file system.
//!
//! At the end `e2fsck -fn` checks the result.

use std::collections::BTreeSet;
use std::path::Path;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::error::ImageError;
use crate::tool;
use crate::tree::{self, Kind};

const BLOCK: u64 = 4096;
const INODE_SIZE: u64 = 256;

/// Identity of the packed file system: the same for every build, so that the bytes are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ext4Identity {
    pub uuid: String,
    pub hash_seed: String,
    pub label: String,
}

impl Ext4Identity {
    /// The rootfs's identity (the guest finds its disk by virtio serial, not by this UUID).
    pub fn rootfs() -> Ext4Identity {
        Ext4Identity {
            uuid: "6872756e-0000-4000-8000-726f6f746673".into(),
            hash_seed: "6872756e-0000-4000-8000-686173686564".into(),
            label: "hrun-root".into(),
        }
    }
}

/// The file system mke2fs is asked to make for a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub blocks: u64,
    pub inodes: u64,
}

/// The mke2fs configuration used instead of the host's.
const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384
\treserved_ratio = 0

[fs_types]
\text4 = {
\t\tfeatures = extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
";

/// Sets every entry's access and modification time under `root` to `epoch`.
pub fn normalise_times(entries: &[tree::TreeEntry], epoch: u64) -> Result<(), ImageError> {
    let secs = i64::try_from(epoch).unwrap_or(i64::MAX);
    let time = TimeSpec::new(secs, 0);
    for entry in entries {
        utimensat(
            nix::fcntl::AT_FDCWD,
            &entry.path,
            &time,
            &time,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|errno| ImageError::Io {
            action: "set the times of",
            path: entry.path.clone(),
            source: errno.into(),
        })?;
    }
    Ok(())
}

/// The blocks and inodes a file system holding `entries` needs: data blocks of each file
/// (hard links counted once), directory blocks from their names, long symlinks, the inode
/// tables; then a tenth more and 16 MiB for metadata, rounded up to whole MiB.
pub fn geometry(entries: &[tree::TreeEntry]) -> Geometry {
    let mut seen = BTreeSet::new();
    let mut data_blocks = 0u64;
    let mut inodes = 0u64;
    let mut dir_bytes: std::collections::BTreeMap<&str, u64> = Default::default();
    for entry in entries {
        if let Some((parent, name)) = entry.name.rsplit_once('/') {
            let parent = if parent.is_empty() { "/" } else { parent };
            if entry.name != "/" {
                // A directory record: 8 bytes, the name padded to 4.
                *dir_bytes.entry(parent).or_insert(24) += 8 + (name.len() as u64).div_ceil(4) * 4;
            }
        }
        if !seen.insert(entry.id) {
            continue;
        }
        inodes += 1;
        data_blocks += match entry.kind {
            Kind::File => entry.size.div_ceil(BLOCK),
            Kind::Symlink if entry.target_len >= 60 => 1,
            _ => 0,
        };
    }
    data_blocks += dir_bytes.values().map(|b| b.div_ceil(BLOCK)).sum::<u64>();
    // lost+found and the reserved inodes, plus room for what mke2fs adds.
    let inodes = (inodes + 64) * 11 / 10;
    let table_blocks = (inodes * INODE_SIZE).div_ceil(BLOCK);
    let mib = 1 << 20;
    let bytes = (data_blocks + table_blocks) * BLOCK * 11 / 10 + 16 * mib;
    Geometry {
        blocks: bytes.div_ceil(mib) * mib / BLOCK,
        inodes,
    }
}

/// Packs the tree at `root` into a new ext4 image at `image` (see the module doc); `work` is a
/// scratch directory for the mke2fs config and the debugfs script.
pub fn pack(
    root: &Path,
    image: &Path,
    epoch: u64,
    identity: &Ext4Identity,
    work: &Path,
) -> Result<Geometry, ImageError> {
    let entries = tree::walk(root)?;
    normalise_times(&entries, epoch)?;
    let geometry = geometry(&entries);

    let conf = work.join("mke2fs.conf");
    std::fs::write(&conf, MKE2FS_CONF).map_err(ImageError::io("write", &conf))?;
    if image.exists() {
        std::fs::remove_file(image).map_err(ImageError::io("remove", image))?;
    }
    let epoch_text = epoch.to_string();
    tool::output(
        tool::MKFS_EXT4
            .command()?
            .env("MKE2FS_CONFIG", &conf)
            .env("E2FSPROGS_FAKE_TIME", &epoch_text)
            .env("SOURCE_DATE_EPOCH", &epoch_text)
            .args([
                "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
            ])
            .arg("-N")
            .arg(geometry.inodes.to_string())
            .arg("-L")
            .arg(&identity.label)
            .arg("-U")
            .arg(&identity.uuid)
            .arg("-E")
            .arg(format!(
                "hash_seed={},root_owner=0:0,nodiscard,lazy_itable_init=0",
                identity.hash_seed
            ))
            .arg("-d")
            .arg(root)
            .arg(image)
            .arg(geometry.blocks.to_string()),
    )?;

    let script = work.join("debugfs-times");
    std::fs::write(&script, times_script(&entries, epoch))
        .map_err(ImageError::io("write", &script))?;
    set_times_with_debugfs(image, &script, &epoch_text)?;
    tool::output(tool::E2FSCK.command()?.arg("-fn").arg(image))?;
    Ok(geometry)
}

/// The debugfs commands that set the ctime and atime of every entry to `epoch`. Names are
/// quoted for debugfs's parser, which reads `""` inside quotes as one quote.
pub fn times_script(entries: &[tree::TreeEntry], epoch: u64) -> String {
    let mut script = String::new();
    for entry in entries {
        let quoted = format!("\"{}\"", entry.name.replace('"', "\"\""));
        for field in ["ctime", "atime"] {
            script.push_str(&format!("set_inode_field {quoted} {field} @{epoch}\n"));
        }
    }
    script
}

/// Runs the times script; debugfs exits 0 even when a command fails, so anything it prints on
/// stderr besides its version banner is an error (it names the path it could not reach).
fn set_times_with_debugfs(image: &Path, script: &Path, epoch: &str) -> Result<(), ImageError> {
    let mut cmd = tool::DEBUGFS.command()?;
    cmd.env("E2FSPROGS_FAKE_TIME", epoch)
        .arg("-w")
        .arg("-f")
        .arg(script)
        .arg(image)
        .stdin(std::process::Stdio::null());
    let out = cmd.output().map_err(|source| tool::ToolError::Spawn {
        program: "debugfs".into(),
        source,
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
        .take(5)
        .collect();
    if !out.status.success() || !problems.is_empty() {
        return Err(ImageError::Rootfs(format!(
            "debugfs could not set the times of every inode ({}): {}",
            out.status,
            problems.join("; ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(name: &str, kind: Kind, size: u64, ino: u64) -> tree::TreeEntry {
        tree::TreeEntry {
            name: name.into(),
            path: PathBuf::from(name),
            kind,
            size,
            id: (1, ino),
            target_len: if kind == Kind::Symlink { size } else { 0 },
        }
    }

    #[test]
    fn geometry_counts_hard_links_once_and_rounds_to_whole_mib() {
        let one = [
            entry("/", Kind::Dir, 4096, 1),
            entry("/big", Kind::File, 100 << 20, 2),
        ];
        let linked = [
            entry("/", Kind::Dir, 4096, 1),
            entry("/big", Kind::File, 100 << 20, 2),
            entry("/big2", Kind::File, 100 << 20, 2),
        ];
        let a = geometry(&one);
        let b = geometry(&linked);
        assert_eq!(a.inodes, b.inodes);
        assert_eq!(a.blocks * BLOCK % (1 << 20), 0);
        assert!(
            a.blocks * BLOCK > 110 << 20,
            "room for 100 MiB and a tenth more"
        );
        assert!(
            b.blocks * BLOCK < 130 << 20,
            "the link adds no data: {}",
            b.blocks
        );
    }

    #[test]
    fn times_script_quotes_names_for_debugfs() {
        let script = times_script(&[entry("/a \"b\"", Kind::File, 0, 2)], 7);
        assert_eq!(
            script,
            "set_inode_field \"/a \"\"b\"\"\" ctime @7\nset_inode_field \"/a \"\"b\"\"\" atime @7\n"
        );
    }

    /// Packs a small tree twice, from two copies made at different times, and compares bytes.
    #[test]
    fn packing_the_same_tree_twice_gives_the_same_bytes() {
        if tool::MKFS_EXT4.locate().is_err() || tool::DEBUGFS.locate().is_err() {
            println!("SKIP packing_the_same_tree_twice_gives_the_same_bytes: no e2fsprogs");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut digests = Vec::new();
        for round in 0..2 {
            let root = dir.path().join(format!("tree{round}"));
            // Create in a different order each round: the image must not care.
            let names = if round == 0 {
                ["x", "y", "z"]
            } else {
                ["z", "y", "x"]
            };
            std::fs::create_dir_all(root.join("etc/sub")).unwrap();
            for name in names {
                std::fs::write(root.join("etc").join(name), name).unwrap();
            }
            std::fs::write(root.join("etc/sub/\"quoted\" name"), "q").unwrap();
            std::os::unix::fs::symlink("etc/x", root.join("link")).unwrap();
            std::fs::hard_link(root.join("etc/x"), root.join("hard")).unwrap();
            let image = dir.path().join(format!("image{round}"));
            let work = dir.path().join(format!("work{round}"));
            std::fs::create_dir_all(&work).unwrap();
            pack(&root, &image, 1_700_000_000, &Ext4Identity::rootfs(), &work).unwrap();
            digests.push(crate::digest::Sha256Hex::of_file(&image).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        assert_eq!(digests[0], digests[1]);
    }
}
