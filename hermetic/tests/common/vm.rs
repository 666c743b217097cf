//! A tiny guest for the microVM tests, made without the guest agent: Debian's cloud kernel
//! (fetched by `ci/setup-vm.sh` into `$HRUN_CACHE/vm/test-kernel/`, never committed) and an
//! initramfs built here: busybox-static as `/bin/busybox`, the virtio modules, and an `/init`
//! script that loads them and (unless silent) writes one line to the agent's virtio-serial port,
//! found by name, as the agent's first bytes would be.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hermetic::vm::{default_cache_dir, Accel, VmConfig, VmImage};

/// The modules the init script loads, in dependency order (path under `kernel/drivers/`).
const MODULES: &[&str] = &[
    "virtio/virtio_ring",
    "virtio/virtio",
    "virtio/virtio_mmio",
    "char/virtio_console",
];

/// What the guest's `/init` does once its modules are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Writes `hello <kernel release> <uptime>` to the agent's port, then idles.
    Hello,
    /// Never writes: a guest that hangs as far as the host can tell.
    Silent,
}

/// A bootable test image in a directory of its own, which also serves as the cache directory.
pub struct TestGuest {
    pub dir: tempfile::TempDir,
    pub image: VmImage,
}

impl TestGuest {
    /// A VM configuration for tests: forced TCG, 1 vCPU, 512 MiB, a 1 GiB scratch disk and the
    /// guest's directory as cache.
    pub fn config(&self) -> VmConfig {
        VmConfig {
            vcpus: 1,
            memory_mib: 512,
            disk_bytes: 1 << 30,
            accel: Some(Accel::Tcg),
            cache_dir: self.dir.path().join("cache"),
            ..VmConfig::default()
        }
    }
}

/// Builds a test guest, or prints `SKIP <test>: <reason>` and returns `None` when QEMU, the test
/// kernel or a static busybox is missing.
pub fn guest_or_skip(test: &str, init: Init) -> Option<TestGuest> {
    match build_guest(init) {
        Ok(g) => Some(g),
        Err(reason) => {
            println!("SKIP {test}: {reason}");
            None
        }
    }
}

fn build_guest(init: Init) -> Result<TestGuest, String> {
    hermetic::vm::qemu::accel::qemu_version(Path::new(hermetic::vm::DEFAULT_QEMU))
        .map_err(|e| format!("{e} (ci/setup-vm.sh installs qemu-system-x86)"))?;
    let kernel_dir = default_cache_dir().join("vm").join("test-kernel");
    let release = std::fs::read_to_string(kernel_dir.join("release"))
        .map(|r| r.trim().to_owned())
        .map_err(|_| {
            format!(
                "no test kernel in {} (run ci/setup-vm.sh)",
                kernel_dir.display()
            )
        })?;
    let busybox = std::fs::read("/bin/busybox")
        .map_err(|e| format!("/bin/busybox: {e} (ci/setup-vm.sh installs busybox-static)"))?;
    if has_interpreter(&busybox) {
        return Err("/bin/busybox is dynamically linked (install busybox-static)".to_owned());
    }
    let drivers = kernel_dir
        .join("root/lib/modules")
        .join(&release)
        .join("kernel/drivers");
    let mut files: Vec<(String, u32, Vec<u8>)> = vec![
        ("bin".to_owned(), 0o040755, Vec::new()),
        ("dev".to_owned(), 0o040755, Vec::new()),
        ("proc".to_owned(), 0o040755, Vec::new()),
        ("sys".to_owned(), 0o040755, Vec::new()),
        ("m".to_owned(), 0o040755, Vec::new()),
        ("bin/busybox".to_owned(), 0o100755, busybox),
        ("init".to_owned(), 0o100755, init_script(init).into_bytes()),
    ];
    for module in MODULES {
        let path = drivers.join(format!("{module}.ko"));
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = module.rsplit('/').next().unwrap_or(module);
        files.push((format!("m/{name}.ko"), 0o100644, bytes));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let initrd = dir.path().join("initrd.img");
    std::fs::write(&initrd, newc(&files)).map_err(|e| e.to_string())?;
    let rootfs = dir.path().join("rootfs.img");
    std::fs::write(&rootfs, vec![0u8; 1 << 20]).map_err(|e| e.to_string())?;
    let image = VmImage {
        kernel: kernel_dir.join("vmlinuz"),
        initrd,
        rootfs,
        digest: format!("test-{}", init_name(init)),
        kernel_release: release,
    };
    Ok(TestGuest { dir, image })
}

fn init_name(init: Init) -> &'static str {
    match init {
        Init::Hello => "hello",
        Init::Silent => "silent",
    }
}

fn init_script(init: Init) -> String {
    let say = match init {
        Init::Hello => {
            r#"echo "hello $($B uname -r) $($B cut -d' ' -f1 /proc/uptime)" > /dev/${p##*/}"#
        }
        Init::Silent => ":",
    };
    format!(
        r#"#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_mmio virtio_console; do $B insmod /m/$m.ko; done
n=0
while [ $n -lt 1000 ]; do
  for p in /sys/class/virtio-ports/*; do
    if [ -e /dev/${{p##*/}} ] && [ "$($B cat $p/name 2>/dev/null)" = org.hrun.agent.0 ]; then
      {say}
      exec $B sleep 1000000
    fi
  done
  n=$((n+1))
  $B usleep 10000
done
exec $B sleep 1000000
"#
    )
}

/// Whether an ELF file asks for a program interpreter (is dynamically linked).
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    if elf.get(0..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) {
        return true; // not a 64-bit ELF: treat as unusable
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return true;
    };
    (0..usize::from(phnum)).any(|i| {
        let at = usize::try_from(phoff).unwrap_or(usize::MAX) + i * usize::from(phentsize);
        u32_at(at) == Some(3) // PT_INTERP
    })
}

/// An uncompressed newc cpio archive of `(name, mode, data)` entries, in the given order.
pub fn newc(entries: &[(String, u32, Vec<u8>)]) -> Vec<u8> {
    fn pad(out: &mut Vec<u8>) {
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    fn entry(out: &mut Vec<u8>, ino: usize, name: &str, mode: u32, data: &[u8]) {
        let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
        let fields = [
            ino,
            mode as usize,
            0,
            0,
            nlink,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad(out);
        out.extend_from_slice(data);
        pad(out);
    }
    let mut out = Vec::new();
    for (i, (name, mode, data)) in entries.iter().enumerate() {
        entry(&mut out, i + 1, name, *mode, data);
    }
    entry(&mut out, 0, "TRAILER!!!", 0, &[]);
    out
}

/// Whether a process with this pid still exists.
pub fn process_exists(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}
