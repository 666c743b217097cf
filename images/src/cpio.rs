//! A writer of `newc` cpio archives (the format the Linux kernel unpacks as an initramfs) whose
//! output depends only on what is written: the caller gives the entries in order, and every
//! header field that would come from the build machine is fixed here (inode numbers count up
//! from 1, owner 0:0, one modification time for all, device numbers 0, no hard links).
//!
//! Why not the `cpio` crate: it copies whatever numbers it is given and is rarely updated,
//! while the whole format is a 110-byte ASCII header and 4-byte padding; owning those few lines
//! is how we know every byte of the initramfs.

use std::io::{self, Read, Write};

/// The size of a `newc` header, before the name.
const HEADER_LEN: usize = 110;

/// Why an entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    #[error("cpio entry name `{name}` must be relative, without `..`, `.`, empty parts or NUL")]
    BadName { name: String },
    #[error("cpio entry `{name}` is {size} bytes; newc holds at most 4 GiB - 1 per file")]
    TooLarge { name: String, size: u64 },
    #[error("cpio entry `{name}` promised {expected} bytes but its reader gave {actual}")]
    ShortRead {
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("cannot write the cpio archive")]
    Write(#[from] io::Error),
}

/// File-type bits of a `newc` mode.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Writes a `newc` archive entry by entry; [`NewcWriter::finish`] adds the trailer.
pub struct NewcWriter<W: Write> {
    out: W,
    mtime: u32,
    next_ino: u32,
    written: u64,
}

impl<W: Write> NewcWriter<W> {
    /// An archive whose every entry has modification time `mtime` (seconds since the epoch;
    /// newc stores 32 bits, so later times are clamped).
    pub fn new(out: W, mtime: u64) -> NewcWriter<W> {
        NewcWriter {
            out,
            mtime: u32::try_from(mtime).unwrap_or(u32::MAX),
            next_ino: 1,
            written: 0,
        }
    }

    /// A directory with permission bits `perm` (e.g. `0o755`).
    pub fn directory(&mut self, name: &str, perm: u32) -> Result<(), CpioError> {
        self.entry(
            name,
            S_IFDIR | (perm & 0o7777),
            2,
            (0, 0),
            &mut io::empty(),
            0,
        )
    }

    /// A regular file of `size` bytes read from `data`.
    pub fn file(
        &mut self,
        name: &str,
        perm: u32,
        data: &mut dyn Read,
        size: u64,
    ) -> Result<(), CpioError> {
        self.entry(name, S_IFREG | (perm & 0o7777), 1, (0, 0), data, size)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), CpioError> {
        let bytes = target.as_bytes();
        self.entry(
            name,
            S_IFLNK | 0o777,
            1,
            (0, 0),
            &mut &bytes[..],
            bytes.len() as u64,
        )
    }

    /// A character device node (`/dev/console` is 5:1), so the kernel can open the console
    /// for `/init` before any devtmpfs is mounted.
    pub fn char_device(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.entry(
            name,
            S_IFCHR | (perm & 0o7777),
            1,
            (major, minor),
            &mut io::empty(),
            0,
        )
    }

    /// Writes the trailer and returns the output.
    pub fn finish(mut self) -> Result<W, CpioError> {
        self.header("TRAILER!!!", 0, 0, 1, (0, 0), 0)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &mut dyn Read,
        size: u64,
    ) -> Result<(), CpioError> {
        check_name(name)?;
        let size32 = u32::try_from(size).map_err(|_| CpioError::TooLarge {
            name: name.to_owned(),
            size,
        })?;
        let ino = self.next_ino;
        self.next_ino = self.next_ino.saturating_add(1);
        self.header(name, ino, mode, nlink, rdev, size32)?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(CpioError::ShortRead {
                name: name.to_owned(),
                expected: size,
                actual: copied,
            });
        }
        self.written += copied;
        self.pad()
    }

    fn header(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        (rdev_major, rdev_minor): (u32, u32),
        size: u32,
    ) -> Result<(), CpioError> {
        let namesize = name.len() + 1;
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            self.mtime,
            size,
            0, // dev major
            0, // dev minor
            rdev_major,
            rdev_minor,
            u32::try_from(namesize).unwrap_or(u32::MAX),
            0, // check (newc has no checksum)
        ];
        let mut header = String::with_capacity(HEADER_LEN);
        header.push_str("070701");
        for field in fields {
            header.push_str(&format!("{field:08X}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.written += (HEADER_LEN + namesize) as u64;
        self.pad()
    }

    /// Pads the output to a multiple of 4 bytes, as newc aligns headers and data.
    fn pad(&mut self) -> Result<(), CpioError> {
        let pad = (4 - (self.written % 4)) % 4;
        self.out.write_all(&[0u8; 3][..pad as usize])?;
        self.written += pad;
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), CpioError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\0')
        || name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(CpioError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry read back: (name, mode, nlink, mtime, rdev, data).
    type Parsed = (String, u32, u32, u32, (u32, u32), Vec<u8>);

    /// A strict reader for the tests: checks magic, fixed fields and alignment.
    fn read_back(archive: &[u8]) -> Vec<Parsed> {
        let mut entries = Vec::new();
        let mut at = 0usize;
        loop {
            let header = std::str::from_utf8(&archive[at..at + HEADER_LEN]).unwrap();
            assert_eq!(&header[..6], "070701");
            let field = |i: usize| u32::from_str_radix(&header[6 + 8 * i..14 + 8 * i], 16).unwrap();
            assert_eq!((field(2), field(3)), (0, 0), "owner is root");
            assert_eq!((field(7), field(8), field(12)), (0, 0, 0));
            let namesize = field(11) as usize;
            let name_start = at + HEADER_LEN;
            let name =
                String::from_utf8(archive[name_start..name_start + namesize - 1].to_vec()).unwrap();
            assert_eq!(archive[name_start + namesize - 1], 0);
            let data_start = (name_start + namesize).div_ceil(4) * 4;
            let size = field(6) as usize;
            let data = archive[data_start..data_start + size].to_vec();
            at = (data_start + size).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                assert_eq!(at, archive.len(), "nothing after the trailer");
                return entries;
            }
            entries.push((
                name,
                field(1),
                field(4),
                field(5),
                (field(9), field(10)),
                data,
            ));
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = NewcWriter::new(Vec::new(), 1_700_000_000);
        w.directory("dev", 0o755).unwrap();
        w.char_device("dev/console", 0o600, 5, 1).unwrap();
        w.file("init", 0o755, &mut &b"#!agent"[..], 7).unwrap();
        w.symlink("sbin", "init").unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn writes_entries_that_read_back_with_fixed_owner_time_and_alignment() {
        let archive = sample();
        assert_eq!(archive.len() % 4, 0);
        let entries = read_back(&archive);
        let t = 1_700_000_000;
        assert_eq!(
            entries,
            vec![
                ("dev".into(), 0o040755, 2, t, (0, 0), vec![]),
                ("dev/console".into(), 0o020600, 1, t, (5, 1), vec![]),
                ("init".into(), 0o100755, 1, t, (0, 0), b"#!agent".to_vec()),
                ("sbin".into(), 0o120777, 1, t, (0, 0), b"init".to_vec()),
            ]
        );
    }

    #[test]
    fn numbers_inodes_from_one_in_write_order() {
        let archive = sample();
        let inos: Vec<u32> = archive
            .windows(6)
            .enumerate()
            .filter(|(_, w)| *w == b"070701")
            .map(|(i, _)| {
                let text = std::str::from_utf8(&archive[i + 6..i + 14]).unwrap();
                u32::from_str_radix(text, 16).unwrap()
            })
            .collect();
        assert_eq!(inos, [1, 2, 3, 4, 0]);
    }

    #[test]
    fn same_entries_give_the_same_bytes() {
        assert_eq!(sample(), sample());
    }

    #[test]
    fn header_of_a_file_is_byte_exact() {
        let mut w = NewcWriter::new(Vec::new(), 0x10);
        w.file("a", 0o644, &mut &b"xy"[..], 2).unwrap();
        let archive = w.finish().unwrap();
        let expected_header = "070701\
            00000001000081A4000000000000000000000001\
            0000001000000002000000000000000000000000\
            000000000000000200000000";
        assert_eq!(&archive[..HEADER_LEN], expected_header.as_bytes());
        // name "a\0" ends at 112, already aligned; data "xy" then 2 bytes of padding.
        assert_eq!(&archive[HEADER_LEN..HEADER_LEN + 8], b"a\0xy\0\0\x30\x37");
    }

    #[test]
    fn rejects_absolute_parent_and_empty_names() {
        for name in ["/init", "a/../b", "", "a//b", "./a", "a\0b"] {
            let mut w = NewcWriter::new(Vec::new(), 0);
            assert!(
                matches!(w.directory(name, 0o755), Err(CpioError::BadName { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn rejects_a_reader_shorter_than_announced() {
        let mut w = NewcWriter::new(Vec::new(), 0);
        let err = w.file("f", 0o644, &mut &b"abc"[..], 5).unwrap_err();
        assert!(matches!(
            err,
            CpioError::ShortRead {
                expected: 5,
                actual: 3,
                ..
            }
        ));
    }

    #[test]
    fn clamps_times_past_2106() {
        let mut w = NewcWriter::new(Vec::new(), u64::MAX);
        w.directory("d", 0o755).unwrap();
        let archive = w.finish().unwrap();
        assert_eq!(&archive[46..54], b"FFFFFFFF");
    }
}
