//! A strict reader for the tar streams [`write_tar`](super::write_tar) produces.
//!
//! Deltas come from the other side of a trust boundary (a guest's delta is written by the job),
//! so this reader accepts only what our writer emits: GNU or ustar headers with valid checksums
//! for directories, regular files and symbolic links, and GNU long-name (`L`) and long-link (`K`)
//! records no longer than `PATH_MAX`. Everything else (hard links, devices, FIFOs, sparse files,
//! PAX headers) is refused by name. Unlike a general tar reader it never buffers a record whose
//! size the stream chose: file data is handed to the caller as a bounded reader.
//!
//! Must never: allocate more than `PATH_MAX` for a name, panic on any byte, or read past the
//! current entry's data when the caller asks for the next one.

use std::io::{self, Read};

use super::path::MAX_PATH_LEN;
use super::SyncError;

const BLOCK: usize = 512;

/// What a tar entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TarKind {
    /// A directory.
    Dir,
    /// A regular file with this many bytes of data following.
    File { size: u64 },
    /// A symbolic link to this target.
    Symlink { target: Vec<u8> },
}

/// One entry's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TarHead {
    /// The name as stored (validated by the caller).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: TarKind,
    /// Permission bits as stored.
    pub mode: u32,
    /// Modification time, seconds.
    pub mtime: u64,
}

/// Reads entries one by one.
pub(crate) struct TarReader<R> {
    inner: R,
    /// Data bytes of the current entry not yet consumed, and the padding after them.
    unread: u64,
    padding: u64,
    ended: bool,
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        TarReader {
            inner,
            unread: 0,
            padding: 0,
            ended: false,
        }
    }

    /// The next entry's header, `None` at the end-of-archive marker (or a clean end of input).
    pub(crate) fn next_head(&mut self) -> Result<Option<TarHead>, SyncError> {
        if self.ended {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let Some(block) = self.read_block()? else {
                self.ended = true;
                return if long_name.is_some() || long_link.is_some() {
                    Err(bad("the stream ended after a long-name record"))
                } else {
                    Ok(None)
                };
            };
            if block.iter().all(|b| *b == 0) {
                // The end-of-archive marker (two zero blocks; a second one may or may not follow).
                self.ended = true;
                return Ok(None);
            }
            let header = tar::Header::from_byte_slice(&block);
            verify_checksum(&block, header)?;
            let size = header
                .entry_size()
                .map_err(|e| bad_owned(format!("bad size field: {e}")))?;
            let flag = header.entry_type().as_byte();
            match flag {
                b'L' | b'K' => {
                    if long_name.is_some() && flag == b'L' || long_link.is_some() && flag == b'K' {
                        return Err(bad("two long-name records for one entry"));
                    }
                    let value = self.read_long_value(size)?;
                    if flag == b'L' {
                        long_name = Some(value);
                    } else {
                        long_link = Some(value);
                    }
                    continue;
                }
                b'0' | 0 | b'5' | b'2' => {}
                other => {
                    return Err(SyncError::UnsupportedEntry {
                        path: String::from_utf8_lossy(&header.path_bytes()).into_owned(),
                        kind: describe_flag(other),
                    })
                }
            }
            let name = match long_name {
                Some(name) => name,
                None => header.path_bytes().into_owned(),
            };
            let mode = header
                .mode()
                .map_err(|e| bad_owned(format!("bad mode field: {e}")))?;
            let mtime = header
                .mtime()
                .map_err(|e| bad_owned(format!("bad mtime field: {e}")))?;
            let kind = match flag {
                b'5' => TarKind::Dir,
                b'2' => {
                    let target = match long_link {
                        Some(target) => target,
                        None => header
                            .link_name_bytes()
                            .map(|t| t.into_owned())
                            .unwrap_or_default(),
                    };
                    if target.is_empty() || target.contains(&0) || target.len() > MAX_PATH_LEN {
                        return Err(SyncError::UnsafePath {
                            path: String::from_utf8_lossy(&name).into_owned(),
                            reason: "symbolic link with an empty, NUL-holding or over-long target",
                        });
                    }
                    TarKind::Symlink { target }
                }
                _ => TarKind::File { size },
            };
            // Directories and links carry no data, whatever their size field says.
            let data = if matches!(kind, TarKind::File { .. }) {
                size
            } else if size != 0 {
                return Err(bad("a directory or link entry with data"));
            } else {
                0
            };
            self.unread = data;
            self.padding = pad_of(data);
            return Ok(Some(TarHead {
                name,
                kind,
                mode,
                mtime,
            }));
        }
    }

    /// Reads the current entry's data (at most what is left of it).
    pub(crate) fn read_data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.unread)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ended inside a file's data",
            ));
        }
        self.unread -= n as u64;
        Ok(n)
    }

    fn skip_rest(&mut self) -> Result<(), SyncError> {
        let skip = self.unread.saturating_add(self.padding);
        if skip > 0 {
            let copied = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())
                .map_err(SyncError::Receive)?;
            if copied != skip {
                return Err(bad("the stream ended inside an entry"));
            }
        }
        self.unread = 0;
        self.padding = 0;
        Ok(())
    }

    fn read_long_value(&mut self, size: u64) -> Result<Vec<u8>, SyncError> {
        // A name, NUL-terminated: PATH_MAX plus the terminator at most.
        if size == 0 || size > MAX_PATH_LEN as u64 + 1 {
            return Err(bad("a long-name record of an impossible size"));
        }
        let len = usize::try_from(size).map_err(|_| bad("long-name size"))?;
        let mut value = vec![0u8; len];
        self.inner
            .read_exact(&mut value)
            .map_err(SyncError::Receive)?;
        let padding = pad_of(size);
        io::copy(&mut (&mut self.inner).take(padding), &mut io::sink())
            .map_err(SyncError::Receive)?;
        while value.last() == Some(&0) {
            value.pop();
        }
        Ok(value)
    }

    /// One whole block, or `None` at a clean end of input before its first byte.
    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, SyncError> {
        let mut block = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(block.get_mut(got..).unwrap_or_default()) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(bad("the stream ended inside a header")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SyncError::Receive(e)),
            }
        }
        Ok(Some(block))
    }
}

fn pad_of(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn verify_checksum(block: &[u8; BLOCK], header: &tar::Header) -> Result<(), SyncError> {
    let stored = header
        .cksum()
        .map_err(|e| bad_owned(format!("bad checksum field: {e}")))?;
    // The checksum field (bytes 148..156) counts as spaces.
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    if sum == stored {
        Ok(())
    } else {
        Err(bad("header checksum mismatch"))
    }
}

fn describe_flag(flag: u8) -> String {
    match flag {
        b'1' => "hard link".to_owned(),
        b'3' => "character device".to_owned(),
        b'4' => "block device".to_owned(),
        b'6' => "FIFO".to_owned(),
        b'7' => "contiguous file".to_owned(),
        b'x' | b'g' => "PAX header".to_owned(),
        b'S' => "sparse file".to_owned(),
        other => format!("entry type {:?}", char::from(other)),
    }
}

fn bad(reason: &'static str) -> SyncError {
    SyncError::BadTar(reason.to_owned())
}

fn bad_owned(reason: String) -> SyncError {
    SyncError::BadTar(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h
    }

    #[test]
    fn reads_files_dirs_links_and_long_names() {
        let long = "d/".to_owned() + &"n".repeat(300);
        let bytes = archive(|b| {
            b.append_data(&mut header(tar::EntryType::Directory, 0), "d", io::empty())
                .unwrap();
            b.append_data(&mut header(tar::EntryType::Regular, 3), &long, &b"abc"[..])
                .unwrap();
            b.append_link(
                &mut header(tar::EntryType::Symlink, 0),
                "d/l",
                "x".repeat(200),
            )
            .unwrap();
        });
        let mut r = TarReader::new(bytes.as_slice());
        assert_eq!(r.next_head().unwrap().map(|h| h.kind), Some(TarKind::Dir));
        let file = r.next_head().unwrap().unwrap();
        assert_eq!(file.name, long.as_bytes());
        assert_eq!(file.kind, TarKind::File { size: 3 });
        let mut data = [0u8; 8];
        assert_eq!(r.read_data(&mut data).unwrap(), 3);
        assert_eq!(&data[..3], b"abc");
        let link = r.next_head().unwrap().unwrap();
        assert_eq!(
            link.kind,
            TarKind::Symlink {
                target: "x".repeat(200).into_bytes()
            }
        );
        assert!(r.next_head().unwrap().is_none());
    }

    #[test]
    fn skips_unread_file_data() {
        let bytes = archive(|b| {
            b.append_data(
                &mut header(tar::EntryType::Regular, 1000),
                "a",
                &[7u8; 1000][..],
            )
            .unwrap();
            b.append_data(&mut header(tar::EntryType::Regular, 1), "b", &[1u8][..])
                .unwrap();
        });
        let mut r = TarReader::new(bytes.as_slice());
        assert!(r.next_head().unwrap().is_some());
        assert_eq!(r.next_head().unwrap().map(|h| h.name), Some(b"b".to_vec()));
    }

    #[test]
    fn refuses_hard_links_devices_and_pax() {
        for kind in [
            tar::EntryType::Link,
            tar::EntryType::Char,
            tar::EntryType::Fifo,
            tar::EntryType::XHeader,
        ] {
            let bytes = archive(|b| {
                let mut h = header(kind, 0);
                h.set_path("x").unwrap();
                h.set_cksum();
                b.append(&h, io::empty()).unwrap();
            });
            let mut r = TarReader::new(bytes.as_slice());
            assert!(
                matches!(r.next_head(), Err(SyncError::UnsupportedEntry { .. })),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn refuses_a_bad_checksum_and_a_huge_long_name() {
        let mut bytes = archive(|b| {
            b.append_data(&mut header(tar::EntryType::Regular, 0), "a", io::empty())
                .unwrap();
        });
        if let Some(byte) = bytes.get_mut(0) {
            *byte = b'b';
        }
        assert!(matches!(
            TarReader::new(bytes.as_slice()).next_head(),
            Err(SyncError::BadTar(_))
        ));

        let mut h = header(tar::EntryType::GNULongName, 1 << 40);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        let mut r = TarReader::new(h.as_bytes().as_slice());
        assert!(matches!(r.next_head(), Err(SyncError::BadTar(_))));
    }

    #[test]
    fn reports_data_cut_short() {
        let bytes = archive(|b| {
            b.append_data(
                &mut header(tar::EntryType::Regular, 100),
                "a",
                &[0u8; 100][..],
            )
            .unwrap();
        });
        let cut = bytes.get(..BLOCK + 10).unwrap_or_default();
        let mut r = TarReader::new(cut);
        assert!(r.next_head().unwrap().is_some());
        let mut buf = [0u8; 200];
        assert_eq!(r.read_data(&mut buf).unwrap(), 10);
        assert!(r.read_data(&mut buf).is_err());
    }
}
