//! The guest agent binary as the build takes it: it becomes the initramfs's `/init`, which
//! runs before any library is there, so it must be a statically linked x86-64 ELF executable.
//! This module checks that from the ELF header alone (no program header may ask for an
//! interpreter), reading only within the bytes it is given.

use std::path::Path;

use crate::digest::Sha256Hex;
use crate::error::ImageError;

/// The agent file, read and checked.
#[derive(Debug, Clone)]
pub struct Agent {
    pub bytes: Vec<u8>,
    pub sha256: Sha256Hex,
}

/// Reads the agent at `path` and checks it can be `/init`.
pub fn load(path: &Path) -> Result<Agent, ImageError> {
    if !path.is_file() {
        return Err(ImageError::AgentMissing {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(ImageError::io("read", path))?;
    check_static_elf(&bytes).map_err(|reason| ImageError::AgentUnfit {
        path: path.to_path_buf(),
        reason,
    })?;
    let sha256 = Sha256Hex::of_bytes(&bytes);
    Ok(Agent { bytes, sha256 })
}

const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;

/// Whether `elf` is a 64-bit little-endian x86-64 executable with no program interpreter.
pub fn check_static_elf(elf: &[u8]) -> Result<(), String> {
    let u16_at = |at: usize| -> Option<u16> {
        Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?))
    };
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err("it is not an ELF file".into());
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("it is not a 64-bit little-endian ELF file".into());
    }
    let truncated = || "its ELF header is truncated".to_owned();
    let kind = u16_at(16).ok_or_else(truncated)?;
    if kind != 2 && kind != 3 {
        return Err(format!("it is not an executable (ELF type {kind})"));
    }
    let machine = u16_at(18).ok_or_else(truncated)?;
    if machine != EM_X86_64 {
        return Err(format!(
            "it is not built for x86-64 (ELF machine {machine})"
        ));
    }
    let phoff = u64_at(0x20).ok_or_else(truncated)?;
    let phentsize = u16_at(0x36).ok_or_else(truncated)?;
    let phnum = u16_at(0x38).ok_or_else(truncated)?;
    for i in 0..u64::from(phnum) {
        let at = phoff
            .checked_add(i * u64::from(phentsize))
            .and_then(|at| usize::try_from(at).ok())
            .ok_or_else(truncated)?;
        let whole = at.checked_add(usize::from(phentsize.max(4)));
        if whole.is_none_or(|end| end > elf.len()) {
            return Err(truncated());
        }
        let kind = u32_at(at).ok_or_else(truncated)?;
        if kind == PT_INTERP {
            return Err(
                "it is dynamically linked (it names a program interpreter); build it \
                 static with `ci/build-agent.sh` (crt-static)"
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with `types` as program header types.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * types.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            b[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    #[test]
    fn accepts_a_static_executable() {
        assert_eq!(check_static_elf(&elf(&[1, 1, 4])), Ok(()));
    }

    #[test]
    fn rejects_a_dynamic_executable_naming_the_build_script() {
        let err = check_static_elf(&elf(&[6, PT_INTERP, 1])).unwrap_err();
        assert!(err.contains("dynamically linked"), "{err}");
        assert!(err.contains("ci/build-agent.sh"), "{err}");
    }

    #[test]
    fn rejects_scripts_and_truncated_headers_without_panicking() {
        assert!(check_static_elf(b"#!/bin/sh\n").is_err());
        let full = elf(&[1, 1]);
        for len in 0..full.len() {
            assert!(check_static_elf(&full[..len]).is_err(), "length {len}");
        }
        let mut huge = elf(&[1]);
        huge[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check_static_elf(&huge).is_err());
    }

    #[test]
    fn the_host_busybox_static_passes_when_installed() {
        let path = Path::new("/bin/busybox");
        if !path.exists() {
            println!("SKIP the_host_busybox_static_passes_when_installed: no /bin/busybox");
            return;
        }
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(check_static_elf(&bytes), Ok(()));
    }
}
