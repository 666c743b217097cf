//! QEMU's command line for one microVM, built as a pure function of a [`LaunchSpec`].
//!
//! The machine is QEMU's `microvm`: no PCI, no firmware option ROMs, no default devices, no
//! display; every device is virtio-mmio, announced to the guest through ACPI. Disks are
//! virtio-blk with a `serial=` the agent finds them by (`hrun-root`, `hrun-scratch`); the host
//! channel is a virtio-serial port named `org.hrun.agent.0` backed by a unix socket; a NIC is
//! added only when the job has a network.
//!
//! Boot-time choices (measured on the 2-core CI host under TCG with Debian's cloud kernel; the
//! `-M microvm` defaults are kept otherwise):
//! - `rtc=on`: without an RTC the kernel waits 1 s twice for the CMOS clock (at time init and in
//!   the `rtc_cmos` driver); with it boot is 2 s shorter, and the guest starts with the host's time.
//! - `tsc_early_khz=` under TCG: QEMU's emulated TSC runs at the host TSC's rate, but the guest
//!   has no PIT-quality reference to measure it, so it marks the TSC unstable and, on a loaded
//!   host, sometimes hangs calibrating timers. Telling it the rate avoids both.
//! - `cryptomgr.notests`, `init_on_alloc=0` and a few `initcall_blacklist` entries drop about
//!   0.9 s of self-tests, page zeroing and certificate/kprobe set-up that a throwaway guest does
//!   not need (modules still load: an unverifiable signature only taints the kernel).
//!
//! Must never: go through a shell (arguments are passed as a vector), or put an unescaped comma
//! from a path into a QEMU option string.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::Accel;

/// The virtio-serial port name the guest agent looks for.
pub const AGENT_PORT_NAME: &str = "org.hrun.agent.0";
/// The `serial=` of the read-only root disk.
pub const ROOT_DISK_SERIAL: &str = "hrun-root";
/// The `serial=` of the scratch disk.
pub const SCRATCH_DISK_SERIAL: &str = "hrun-scratch";

/// Kernel arguments that shorten a throwaway guest's boot (see the module documentation).
const FAST_BOOT_CMDLINE: &[&str] = &[
    "cryptomgr.notests",
    "init_on_alloc=0",
    "initcall_blacklist=init_kprobe_trace,load_system_certificate_list,crypto_kdf108_init",
];

/// The guest's network card: a tap device (in the job's network namespace) and its MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmNic {
    /// The tap device's name, as seen where QEMU starts.
    pub tap: String,
    /// The MAC address the guest's card gets (`52:54:00:..`), by which the agent finds it.
    pub mac: String,
}

/// Everything QEMU's command line depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The VM's name (`-name`), which carries the runner's pid.
    pub name: String,
    /// KVM or TCG.
    pub accel: Accel,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// The guest kernel.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// The root file system image, attached read-only.
    pub root_disk: Option<PathBuf>,
    /// The scratch disk image, attached writable.
    pub scratch_disk: Option<PathBuf>,
    /// The unix socket QEMU listens on for the agent's virtio-serial port.
    pub agent_socket: PathBuf,
    /// The unix socket QEMU listens on for QMP.
    pub qmp_socket: Option<PathBuf>,
    /// Where QEMU writes its pid.
    pub pidfile: Option<PathBuf>,
    /// Where the guest's serial console goes (turns the ISA serial port on).
    pub console_log: Option<PathBuf>,
    /// The network card, when the job has a network.
    pub nic: Option<VmNic>,
    /// The host TSC's rate in kHz, passed to the guest under TCG.
    pub tsc_khz: Option<u64>,
    /// Words appended to the kernel command line.
    pub extra_cmdline: Vec<String>,
}

/// `value` with every comma doubled, as QEMU's option parser wants inside `key=value` lists.
fn escape(value: &OsStr) -> OsString {
    let mut out = Vec::with_capacity(value.len());
    for &b in value.as_bytes() {
        out.push(b);
        if b == b',' {
            out.push(b',');
        }
    }
    OsString::from_vec(out)
}

/// Joins option-string pieces: plain text and escaped paths.
fn opt(parts: &[&OsStr]) -> OsString {
    let mut out = OsString::new();
    for p in parts {
        out.push(p);
    }
    out
}

/// The guest kernel's command line.
pub fn kernel_cmdline(spec: &LaunchSpec) -> String {
    let mut words: Vec<String> = vec!["panic=-1".to_owned()];
    if spec.console_log.is_some() {
        words.push("console=ttyS0".to_owned());
    } else {
        // No serial port at all: skip probing the legacy UART addresses.
        words.push("quiet".to_owned());
        words.push("8250.nr_uarts=0".to_owned());
    }
    words.extend(FAST_BOOT_CMDLINE.iter().map(|w| (*w).to_owned()));
    if spec.accel == Accel::Tcg {
        if let Some(khz) = spec.tsc_khz {
            words.push(format!("tsc_early_khz={khz}"));
            words.push("tsc=reliable".to_owned());
        }
    }
    words.extend(spec.extra_cmdline.iter().cloned());
    words.join(" ")
}

/// QEMU's arguments (without the program name).
pub fn qemu_args(spec: &LaunchSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: OsString| args.push(a);
    let lit = |s: &str| OsString::from(s);

    push(lit("-name"));
    push(escape(OsStr::new(&spec.name)));
    let serial = if spec.console_log.is_some() {
        "on"
    } else {
        "off"
    };
    push(lit("-M"));
    push(lit(&format!(
        "microvm,x-option-roms=off,rtc=on,isa-serial={serial}"
    )));
    push(lit("-accel"));
    push(lit(spec.accel.as_str()));
    push(lit("-cpu"));
    push(lit(match spec.accel {
        Accel::Kvm => "host",
        Accel::Tcg => "max",
    }));
    push(lit("-smp"));
    push(lit(&spec.vcpus.max(1).to_string()));
    push(lit("-m"));
    push(lit(&spec.memory_mib.max(64).to_string()));
    for a in [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ] {
        push(lit(a));
    }
    // QEMU's own seccomp filter: no exec, no privilege gain, no obsolete syscalls.
    push(lit("-sandbox"));
    push(lit(
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    ));
    push(lit("-kernel"));
    push(spec.kernel.clone().into_os_string());
    push(lit("-initrd"));
    push(spec.initrd.clone().into_os_string());
    push(lit("-append"));
    push(lit(&kernel_cmdline(spec)));

    push(lit("-device"));
    push(lit("virtio-serial-device"));
    push(lit("-chardev"));
    push(opt(&[
        OsStr::new("socket,id=agent,server=on,wait=off,path="),
        &escape(spec.agent_socket.as_os_str()),
    ]));
    push(lit("-device"));
    push(lit(&format!(
        "virtserialport,chardev=agent,name={AGENT_PORT_NAME}"
    )));

    if let Some(root) = &spec.root_disk {
        push(lit("-drive"));
        push(opt(&[
            OsStr::new("id=root,format=raw,if=none,readonly=on,file="),
            &escape(root.as_os_str()),
        ]));
        push(lit("-device"));
        push(lit(&format!(
            "virtio-blk-device,drive=root,serial={ROOT_DISK_SERIAL}"
        )));
    }
    if let Some(scratch) = &spec.scratch_disk {
        // The scratch disk is thrown away with the VM: no flushes needed.
        push(lit("-drive"));
        push(opt(&[
            OsStr::new("id=scratch,format=raw,if=none,cache=unsafe,discard=unmap,file="),
            &escape(scratch.as_os_str()),
        ]));
        push(lit("-device"));
        push(lit(&format!(
            "virtio-blk-device,drive=scratch,serial={SCRATCH_DISK_SERIAL}"
        )));
    }
    if let Some(nic) = &spec.nic {
        push(lit("-netdev"));
        push(opt(&[
            OsStr::new("tap,id=net0,script=no,downscript=no,ifname="),
            &escape(OsStr::new(&nic.tap)),
        ]));
        push(lit("-device"));
        push(opt(&[
            OsStr::new("virtio-net-device,netdev=net0,mac="),
            &escape(OsStr::new(&nic.mac)),
        ]));
    }
    if let Some(qmp) = &spec.qmp_socket {
        push(lit("-chardev"));
        push(opt(&[
            OsStr::new("socket,id=qmp,server=on,wait=off,path="),
            &escape(qmp.as_os_str()),
        ]));
        push(lit("-mon"));
        push(lit("chardev=qmp,mode=control"));
    }
    if let Some(log) = &spec.console_log {
        push(lit("-chardev"));
        push(opt(&[
            OsStr::new("file,id=console,path="),
            &escape(log.as_os_str()),
        ]));
        push(lit("-serial"));
        push(lit("chardev:console"));
    }
    if let Some(pidfile) = &spec.pidfile {
        push(lit("-pidfile"));
        push(pidfile.clone().into_os_string());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            name: "hrun-42-0".to_owned(),
            accel: Accel::Tcg,
            vcpus: 2,
            memory_mib: 1024,
            kernel: PathBuf::from("/img/vmlinuz"),
            initrd: PathBuf::from("/img/initrd.img"),
            root_disk: Some(PathBuf::from("/img/rootfs.ext4")),
            scratch_disk: Some(PathBuf::from("/run/hrun-42-0/scratch.ext4")),
            agent_socket: PathBuf::from("/run/hrun-42-0/agent.sock"),
            qmp_socket: Some(PathBuf::from("/run/hrun-42-0/qmp.sock")),
            pidfile: Some(PathBuf::from("/run/hrun-42-0/qemu.pid")),
            console_log: None,
            nic: None,
            tsc_khz: Some(2_445_402),
            extra_cmdline: Vec::new(),
        }
    }

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The value following `flag`, for each occurrence.
    fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn builds_a_microvm_without_default_devices_or_display() {
        let args = strings(&qemu_args(&spec()));
        assert_eq!(
            values(&args, "-M"),
            ["microvm,x-option-roms=off,rtc=on,isa-serial=off"]
        );
        for flag in ["-nodefaults", "-no-user-config", "-no-reboot"] {
            assert!(args.iter().any(|a| a == flag), "{flag} missing");
        }
        assert_eq!(values(&args, "-display"), ["none"]);
        assert_eq!(values(&args, "-smp"), ["2"]);
        assert_eq!(values(&args, "-m"), ["1024"]);
        assert!(values(&args, "-sandbox")[0].starts_with("on,"));
    }

    #[test]
    fn uses_host_cpu_under_kvm_and_max_under_tcg() {
        let mut s = spec();
        let args = strings(&qemu_args(&s));
        assert_eq!(values(&args, "-accel"), ["tcg"]);
        assert_eq!(values(&args, "-cpu"), ["max"]);
        s.accel = Accel::Kvm;
        let args = strings(&qemu_args(&s));
        assert_eq!(values(&args, "-accel"), ["kvm"]);
        assert_eq!(values(&args, "-cpu"), ["host"]);
    }

    #[test]
    fn attaches_root_read_only_and_scratch_writable_by_serial() {
        let args = strings(&qemu_args(&spec()));
        let drives = values(&args, "-drive");
        assert_eq!(drives.len(), 2);
        assert!(drives[0].contains("readonly=on") && drives[0].ends_with("file=/img/rootfs.ext4"));
        assert!(!drives[1].contains("readonly"));
        let devices = values(&args, "-device");
        assert!(devices.contains(&"virtio-blk-device,drive=root,serial=hrun-root"));
        assert!(devices.contains(&"virtio-blk-device,drive=scratch,serial=hrun-scratch"));
    }

    #[test]
    fn names_the_agent_port_and_backs_it_with_a_listening_socket() {
        let args = strings(&qemu_args(&spec()));
        let chardevs = values(&args, "-chardev");
        assert!(
            chardevs.contains(&"socket,id=agent,server=on,wait=off,path=/run/hrun-42-0/agent.sock")
        );
        assert!(values(&args, "-device")
            .contains(&"virtserialport,chardev=agent,name=org.hrun.agent.0"));
        assert_eq!(values(&args, "-mon"), ["chardev=qmp,mode=control"]);
    }

    #[test]
    fn adds_a_nic_only_when_the_job_has_a_network() {
        let mut s = spec();
        let args = strings(&qemu_args(&s));
        assert!(values(&args, "-netdev").is_empty());
        s.nic = Some(VmNic {
            tap: "hrun-42-0t".to_owned(),
            mac: "52:54:00:12:34:56".to_owned(),
        });
        let args = strings(&qemu_args(&s));
        assert_eq!(
            values(&args, "-netdev"),
            ["tap,id=net0,script=no,downscript=no,ifname=hrun-42-0t"]
        );
        assert!(values(&args, "-device")
            .contains(&"virtio-net-device,netdev=net0,mac=52:54:00:12:34:56"));
    }

    #[test]
    fn doubles_commas_of_paths_inside_option_strings() {
        let mut s = spec();
        s.root_disk = Some(PathBuf::from("/a,b/rootfs.ext4"));
        s.agent_socket = PathBuf::from("/r,un/agent.sock");
        let args = strings(&qemu_args(&s));
        assert!(values(&args, "-drive")[0].ends_with("file=/a,,b/rootfs.ext4"));
        assert!(values(&args, "-chardev")[0].ends_with("path=/r,,un/agent.sock"));
        // Plain arguments are not option strings and stay as they are.
        s.kernel = PathBuf::from("/k,1/vmlinuz");
        let args = strings(&qemu_args(&s));
        assert_eq!(values(&args, "-kernel"), ["/k,1/vmlinuz"]);
    }

    #[test]
    fn tells_a_tcg_guest_the_tsc_rate_and_a_kvm_guest_nothing() {
        let mut s = spec();
        let line = kernel_cmdline(&s);
        assert!(line.contains("tsc_early_khz=2445402"), "{line}");
        assert!(line.starts_with("panic=-1 quiet "), "{line}");
        s.accel = Accel::Kvm;
        assert!(!kernel_cmdline(&s).contains("tsc_early_khz"));
    }

    #[test]
    fn console_log_turns_the_serial_port_on() {
        let mut s = spec();
        s.console_log = Some(PathBuf::from("/run/hrun-42-0/console.log"));
        s.extra_cmdline = vec!["initcall_debug".to_owned()];
        let args = strings(&qemu_args(&s));
        assert_eq!(
            values(&args, "-M"),
            ["microvm,x-option-roms=off,rtc=on,isa-serial=on"]
        );
        assert_eq!(values(&args, "-serial"), ["chardev:console"]);
        let line = kernel_cmdline(&s);
        assert!(line.contains("console=ttyS0") && !line.contains("quiet"));
        assert!(line.ends_with(" initcall_debug"));
    }
}
