//! The guest's initramfs: an uncompressed `newc` cpio (the kernel unpacks it without a
//! decompressor, which under TCG saves boot time) holding
//!
//! - `/init`: the guest agent, PID 1;
//! - `/dev/console` (5:1), so the kernel can give `/init` a console before devtmpfs is mounted;
//! - the kernel modules the guest needs under `/lib/modules/<release>/`, decompressed;
//! - `/etc/hrun/modules`: their absolute paths, one a line, in load order (each after its
//!   dependencies), which the agent loads with `finit_module` in that order;
//! - empty mount points `/proc`, `/sys`, `/tmp`, `/run`.
//!
//! Entries are written in byte order of their paths (every directory before what it holds),
//! all with the same time, owner root; so the same agent and kernel give the same bytes.

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::Path;

use crate::agent::Agent;
use crate::cpio::NewcWriter;
use crate::error::ImageError;
use crate::kernel::Kernel;

/// Where the module list lives in the initramfs.
pub const MODULE_LIST: &str = "etc/hrun/modules";

enum Entry<'a> {
    Dir,
    File { perm: u32, bytes: &'a [u8] },
    Console,
}

/// What went into the initramfs, for the manifest.
#[derive(Debug, Clone)]
pub struct InitrdContents {
    /// Absolute module paths in the initramfs, in load order.
    pub modules: Vec<String>,
}

/// Writes the initramfs to `out`: `agent` as `/init` and the modules at `order` (paths in
/// `kernel`'s module directory, already in load order).
pub fn write(
    out: &Path,
    agent: &Agent,
    kernel: &Kernel,
    order: &[String],
    mtime: u64,
) -> Result<InitrdContents, ImageError> {
    let mut module_files = Vec::new();
    for path in order {
        let (plain, bytes) = kernel.module_file(path)?;
        module_files.push((format!("lib/modules/{}/{plain}", kernel.release), bytes));
    }
    let list: String = module_files
        .iter()
        .map(|(name, _)| format!("/{name}\n"))
        .collect();

    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    entries.insert(
        "init".into(),
        Entry::File {
            perm: 0o755,
            bytes: &agent.bytes,
        },
    );
    entries.insert("dev/console".into(), Entry::Console);
    for dir in ["proc", "sys", "tmp", "run"] {
        entries.insert(dir.into(), Entry::Dir);
    }
    for (name, bytes) in &module_files {
        entries.insert(name.clone(), Entry::File { perm: 0o644, bytes });
    }
    entries.insert(
        MODULE_LIST.into(),
        Entry::File {
            perm: 0o644,
            bytes: list.as_bytes(),
        },
    );
    let parents: Vec<String> = entries
        .keys()
        .flat_map(|name| {
            name.match_indices('/')
                .filter_map(|(i, _)| name.get(..i).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    for parent in parents {
        entries.entry(parent).or_insert(Entry::Dir);
    }

    let file = std::fs::File::create(out).map_err(ImageError::io("create", out))?;
    let mut writer = NewcWriter::new(BufWriter::new(file), mtime);
    for (name, entry) in &entries {
        match entry {
            Entry::Dir => writer.directory(name, 0o755)?,
            Entry::Console => writer.char_device(name, 0o600, 5, 1)?,
            Entry::File { perm, bytes } => {
                writer.file(name, *perm, &mut &bytes[..], bytes.len() as u64)?
            }
        }
    }
    writer.finish()?;
    Ok(InitrdContents {
        modules: module_files
            .into_iter()
            .map(|(name, _)| format!("/{name}"))
            .collect(),
    })
}
