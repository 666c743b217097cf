//! The deterministic tar of an evidence bundle, and its strict reading.
//!
//! Writing: plain ustar headers (no PAX or GNU extension records), names sorted bytewise, every
//! member a regular file with mode 0644, uid/gid 0, empty owner names and mtime =
//! `SOURCE_DATE_EPOCH`. The same members and epoch always give the same bytes.
//!
//! Reading treats the archive as hostile: only regular files with plain names, no duplicates,
//! bounded sizes and counts; then the members are written again and the result must equal the
//! input byte for byte, so no header field, padding or trailer can change unnoticed.

use std::collections::BTreeMap;
use std::io::Read;

/// Most members an evidence bundle may hold.
pub const MAX_MEMBERS: usize = 4096;
/// Most bytes of one member.
pub const MAX_MEMBER_BYTES: u64 = 512 << 20;
/// Most bytes of all members together.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Longest member name (a ustar name field without the prefix field).
pub const MAX_NAME_LEN: usize = 100;

/// Why an archive cannot be written or is not one we would have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("member name `{0}` is not a plain relative name (letters, digits, `._-`, `/` between parts, at most 100 bytes)")]
    BadName(String),
    #[error("member `{0}` appears twice")]
    Duplicate(String),
    #[error("member `{0}` is not a regular file")]
    NotAFile(String),
    #[error("the archive holds more than {MAX_MEMBERS} members or more than {MAX_TOTAL_BYTES} bytes, or a member over {MAX_MEMBER_BYTES} bytes")]
    TooLarge,
    #[error("not a readable tar archive: {0}")]
    Unreadable(String),
    #[error("the archive is not in canonical form (a header, padding or trailer byte differs from what hrun writes)")]
    NotCanonical,
}

/// Whether `name` is a member name we write: `part(/part)*`, each part of `[A-Za-z0-9._-]`,
/// not `.` or `..`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// The tar of `members` (sorted by name) with every mtime = `epoch`.
pub fn pack(members: &BTreeMap<String, Vec<u8>>, epoch: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        if !valid_name(name) {
            return Err(ArchiveError::BadName(name.clone()));
        }
        let mut header = tar::Header::new_ustar();
        header
            .set_path(name)
            .map_err(|_| ArchiveError::BadName(name.clone()))?;
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(epoch);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder
            .append(&header, data.as_slice())
            .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    }
    builder
        .into_inner()
        .map_err(|e| ArchiveError::Unreadable(e.to_string()))
}

/// The members of an archive and its epoch, if it is exactly what [`pack`] writes.
pub fn unpack(bytes: &[u8]) -> Result<(BTreeMap<String, Vec<u8>>, u64), ArchiveError> {
    let unreadable = |e: std::io::Error| ArchiveError::Unreadable(e.to_string());
    let mut archive = tar::Archive::new(bytes);
    let mut members = BTreeMap::new();
    let mut epoch = None;
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !valid_name(&name) {
            return Err(ArchiveError::BadName(name.chars().take(120).collect()));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(ArchiveError::NotAFile(name));
        }
        let size = entry.size();
        total = total.saturating_add(size);
        if size > MAX_MEMBER_BYTES || total > MAX_TOTAL_BYTES || members.len() >= MAX_MEMBERS {
            return Err(ArchiveError::TooLarge);
        }
        if epoch.is_none() {
            epoch = Some(entry.header().mtime().map_err(unreadable)?);
        }
        // A header may claim any size: reserve no more than the input could hold.
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(bytes.len()));
        entry.read_to_end(&mut data).map_err(unreadable)?;
        if members.insert(name.clone(), data).is_some() {
            return Err(ArchiveError::Duplicate(name));
        }
    }
    let epoch = epoch.unwrap_or(0);
    if pack(&members, epoch)? != bytes {
        return Err(ArchiveError::NotCanonical);
    }
    Ok((members, epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("b.txt".to_owned(), b"bee".to_vec()),
            ("a/x.json".to_owned(), b"{}".to_vec()),
            ("empty".to_owned(), Vec::new()),
        ])
    }

    #[test]
    fn same_members_give_the_same_bytes_sorted_with_fixed_headers() {
        let a = pack(&sample(), 1_700_000_000).unwrap();
        assert_eq!(a, pack(&sample(), 1_700_000_000).unwrap());
        let mut archive = tar::Archive::new(a.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                assert_eq!(h.mode().unwrap(), 0o644);
                assert_eq!(h.uid().unwrap(), 0);
                assert_eq!(h.gid().unwrap(), 0);
                assert_eq!(h.mtime().unwrap(), 1_700_000_000);
                assert!(h.as_ustar().is_some());
                e.path().unwrap().display().to_string()
            })
            .collect();
        assert_eq!(names, ["a/x.json", "b.txt", "empty"]);
    }

    #[test]
    fn unpacks_what_it_packs() {
        let bytes = pack(&sample(), 42).unwrap();
        assert_eq!(unpack(&bytes).unwrap(), (sample(), 42));
    }

    #[test]
    fn refuses_names_that_could_escape_or_need_extensions() {
        for bad in [
            "../x",
            "/abs",
            "a//b",
            "a/./b",
            "sp ace",
            "",
            &"n".repeat(101),
        ] {
            let members = BTreeMap::from([(bad.to_owned(), Vec::new())]);
            assert!(
                matches!(pack(&members, 0), Err(ArchiveError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let bytes = pack(&sample(), 7).unwrap();
        for pos in (0..bytes.len()).step_by(37) {
            let mut changed = bytes.clone();
            changed[pos] ^= 0x20;
            if let Ok((members, _)) = unpack(&changed) {
                assert_ne!(members, sample(), "byte {pos} changed unnoticed");
            }
        }
    }

    #[test]
    fn refuses_a_non_canonical_archive() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("a").unwrap();
        h.set_size(1);
        h.set_mode(0o600);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(unpack(&bytes), Err(ArchiveError::NotCanonical));
    }
}
