//! The sandbox's helper processes, between `fork` and `exec`.
//!
//! A job's sandbox is made in two parts. Once per job, a set-up sandbox creates the namespaces
//! steps share (user, mount, UTS, IPC, and network unless allowed) and builds the file system in
//! them; it runs no program, and the runner keeps the namespaces open by descriptor (see
//! [`super::job`]). Then three processes per step:
//! 1. the **monitor**, forked by the runner's step thread: joins the step's cgroups, enters the
//!    job's namespaces (`setns`), creates the step's own mount (a copy of the job's), PID and
//!    cgroup namespaces, takes the sandbox identity, then forks the init and relays the runner's
//!    signals to it (SIGINT → SIGINT, SIGTERM → SIGKILL) until it ends;
//! 2. the **init**, PID 1 of the step's PID namespace, started with `clone(CLONE_VM)` so it
//!    shares the monitor's memory instead of copying it again (see [`start_init`]): mounts the step's own `/proc` (and, without
//!    a per-job `/tmp`, a fresh `/tmp` and `/dev/shm`), drops every capability, starts the step,
//!    relays SIGINT to every process of the namespace and reaps orphans; when the step's main
//!    process ends it reports the status and exits, and the kernel kills whatever is left in the
//!    namespace;
//! 3. the **step**, started by the init with `posix_spawn` (no copy of the address space for a
//!    child that `exec`s at once) in the working directory, in a session of its own, with default
//!    signal dispositions and an empty signal mask.
//!
//! The set-up sandbox (also the availability probe) has the same monitor and init, but its
//! monitor creates the namespaces instead of entering them, waits for the runner to write its
//! uid/gid maps and opens the host paths to bind while it still has the runner's file access; its
//! init builds the file system from the [`MountPlan`](super::plan::MountPlan), sets the hostname,
//! brings up loopback and pivots into the new root, then reports and exits.
//!
//! Everything here runs in a forked child of a multi-threaded program: only system calls on data
//! prepared before the fork, no allocation, no locks, no panics. Errors go to the runner as
//! fixed-size [`Record`]s.
//!
//! Must never: return into the runner's code (every path ends in `_exit` or `exec`), run the step
//! with a capability, let the step read a helper's memory (the init is not dumpable), or keep
//! running once the runner's step thread is gone.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};

use super::mounts::{run_op, ChildOp};
use super::protocol::{Record, Stage};
use crate::sys;

/// The directory the new root is assembled on (inside the sandbox's private mount namespace, so
/// the host never sees the mount). Every source is opened before, so nothing below it is needed.
pub(crate) const NEW_ROOT: &str = "/tmp";

/// Descriptor numbers in the helpers after [`arrange_descriptors`]; the job's namespaces follow
/// from [`FIRST_FREE_FD`] on.
const REPORT_FD: RawFd = 3;
const GO_FD: RawFd = 4;
const FIRST_FREE_FD: RawFd = 5;

/// The job's namespaces a step enters, by their name under `/proc/<pid>/ns/`, in the order they
/// are entered: the user namespace first, because it grants the capabilities entering the others
/// needs. The network namespace is last, so it can be left out when the host's is shared.
pub(crate) const JOB_NAMESPACES: [(&str, CloneFlags); 5] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
];

/// The runner's descriptors of the job's namespaces, in [`JOB_NAMESPACES`] order; the first
/// `count` are valid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinFds {
    pub fds: [RawFd; 5],
    pub count: usize,
}

impl JoinFds {
    fn valid(&self) -> &[RawFd] {
        self.fds.get(..self.count).unwrap_or(&[])
    }
}

/// The part of the sandbox that is the same for every step.
#[derive(Debug)]
pub(crate) struct SandboxImage {
    pub sources: Vec<CString>,
    /// Builds the job's file system (replayed once, by the set-up sandbox).
    pub ops: Vec<ChildOp>,
    /// Paths each step's init opens (in the job's mounts) before its `step_ops`.
    pub step_sources: Vec<CString>,
    /// Mounts each step makes in its own copy of the job's mount namespace, at final paths.
    pub step_ops: Vec<ChildOp>,
    pub hostname: std::ffi::OsString,
    pub own_network: bool,
    /// Drop supplementary groups (possible only when the runner is root).
    pub clear_groups: bool,
}

/// The program of one step, with the pointer arrays `execve` needs.
pub(crate) struct ExecPointers<'a> {
    pub candidates: &'a [CString],
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
    pub working_dir: &'a CStr,
}

/// The runner-side descriptors the monitor starts from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HelperFds {
    pub devnull: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub report: RawFd,
    pub go: RawFd,
}

/// Everything the helpers use, prepared before `fork`.
pub(crate) struct ForkInput<'a> {
    pub image: &'a SandboxImage,
    pub join_files: &'a [CString],
    /// One slot per source (`image.sources`, or `image.step_sources` when entering the job's
    /// namespaces), filled by the helper that opens them.
    pub source_fds: &'a mut [RawFd],
    pub exec: Option<ExecPointers<'a>>,
    pub runner: Pid,
    pub fds: HelperFds,
    /// The job's namespaces to enter; `None` creates new ones (the set-up sandbox).
    pub enter: Option<JoinFds>,
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends this forked process at once without running the runner's atexit
    // handlers or destructors, which belong to the parent.
    unsafe { libc::_exit(code) }
}

fn write_raw(fd: RawFd, bytes: &[u8]) {
    // SAFETY: `bytes` is valid for `bytes.len()` bytes; a failed write only loses a report.
    let _ = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

fn report(fd: RawFd, record: Record) {
    write_raw(fd, &record.encode());
}

fn fail_at(fd: RawFd, stage: Stage, errno: Errno) -> ! {
    report(
        fd,
        Record::SetupFailed {
            stage: stage as i32,
            errno: errno as i32,
        },
    );
    exit(126)
}

fn fail(stage: Stage, errno: Errno) -> ! {
    fail_at(REPORT_FD, stage, errno)
}

fn relayed_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGCHLD);
    set
}

/// Moves the descriptors the helpers need to 0–4 (and the job's namespaces, when given, right
/// after) and closes every other one, so no descriptor of the runner (another step's pipe, a
/// socket) stays open in the sandbox.
fn arrange_descriptors(fds: HelperFds, namespaces: &[RawFd]) -> Result<(), Errno> {
    let wanted = [fds.devnull, fds.stdout, fds.stderr, fds.report, fds.go];
    let mut high = [0 as RawFd; 10];
    let mut count = 0;
    for (slot, fd) in high.iter_mut().zip(wanted.iter().chain(namespaces)) {
        // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we own onto the lowest free number at
        // or above 64; it takes no pointers. This step avoids clobbering one wanted descriptor
        // with another in the dup2 loop below.
        let dup = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64) };
        *slot = Errno::result(dup)?;
        count += 1;
    }
    for (target, fd) in (0..).zip(high.iter().take(count)) {
        // SAFETY: dup2 onto a small number we are arranging; no pointers.
        Errno::result(unsafe { libc::dup2(*fd, target) })?;
    }
    for fd in REPORT_FD..RawFd::try_from(count).unwrap_or(FIRST_FREE_FD) {
        // SAFETY: sets close-on-exec on our own descriptor, so the step never inherits it.
        Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    sys::close_descriptors_from(RawFd::try_from(count).unwrap_or(FIRST_FREE_FD));
    Ok(())
}

fn set_parent_death_signal(expected_parent: Option<Pid>) -> Result<(), Errno> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    match expected_parent {
        // The parent ended between fork and prctl: the signal will never come, so go now.
        Some(parent) if nix::unistd::getppid() != parent => exit(1),
        _ => Ok(()),
    }
}

/// Enters the job's namespaces (arranged from [`FIRST_FREE_FD`] on, `count` of them) and
/// creates the step's own: a copy of the job's mount namespace (for its own `/proc`), a PID
/// namespace (whose init's death ends every process of the step) and a cgroup namespace.
fn enter_job_namespaces(count: usize) {
    for (fd, (_, kind)) in (FIRST_FREE_FD..).zip(JOB_NAMESPACES.iter().take(count)) {
        if let Err(e) = sys::setns(fd, kind.bits()) {
            fail(Stage::EnterNamespace, e);
        }
    }
    sys::close_descriptors_from(FIRST_FREE_FD);
    let own = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWCGROUP;
    if let Err(e) = nix::sched::unshare(own) {
        fail(Stage::Unshare, e);
    }
}

/// Creates every namespace of a new sandbox, waits for the runner to write the uid/gid maps
/// and opens the host paths to bind.
fn create_namespaces(input: &mut ForkInput<'_>) {
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if input.image.own_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = nix::sched::unshare(flags) {
        fail(Stage::Unshare, e);
    }
    report(REPORT_FD, Record::Unshared);
    let mut go = [0u8; 1];
    // SAFETY: reads one byte into a local buffer.
    let got = unsafe { libc::read(GO_FD, go.as_mut_ptr().cast(), 1) };
    if got != 1 {
        // The runner could not write the maps, or is gone.
        exit(1);
    }

    // Open every bind source now: we are in the new mount namespace (a bind source must be in
    // the caller's namespace) and still have the runner's file access (before the identity
    // switch, the runner's uid may traverse directories the sandbox uid may not).
    open_sources(&input.image.sources, input.source_fds);
}

/// Opens each of `paths` (`O_PATH`) into the slot of the same index.
fn open_sources(paths: &[CString], slots: &mut [RawFd]) {
    for (slot, path) in slots.iter_mut().zip(paths) {
        match nix::fcntl::open(
            path.as_c_str(),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => *slot = std::os::fd::IntoRawFd::into_raw_fd(fd),
            Err(e) => fail(Stage::OpenSource, e),
        }
    }
}

/// The monitor: runs in the child of the runner's step thread. Never returns.
pub(crate) fn monitor(input: &mut ForkInput<'_>) -> ! {
    // Signals from the runner wait until the relay loop below takes them.
    let relayed = relayed_signals();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&relayed), None) {
        fail_at(input.fds.report, Stage::Descriptors, e);
    }
    let namespaces = input.enter.as_ref().map(JoinFds::valid).unwrap_or(&[]);
    if let Err(e) = arrange_descriptors(input.fds, namespaces) {
        fail_at(input.fds.report, Stage::Descriptors, e);
    }
    // A session of its own: no terminal, and Ctrl-C at the runner's terminal does not reach it.
    let _ = nix::unistd::setsid();
    if let Err(e) = set_parent_death_signal(Some(input.runner)) {
        fail(Stage::ParentDeathSignal, e);
    }
    // Before any namespace changes: the cgroup files are the host's, writable by the runner's
    // identity, and the step's cgroup becomes the root of its cgroup namespace.
    for file in input.join_files {
        if let Err(e) = crate::host::join_cgroup(file) {
            fail(
                Stage::JoinCgroup,
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            );
        }
    }
    match input.enter {
        Some(join) => enter_job_namespaces(join.count),
        None => create_namespaces(input),
    }

    // Become root of the (new or job's) user namespace, which is mapped to the sandbox identity.
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    if let Err(e) = nix::unistd::setresgid(root_gid, root_gid, root_gid) {
        fail(Stage::Identity, e);
    }
    if input.image.clear_groups {
        // The runner's supplementary groups (root's) must not follow the step.
        if let Err(e) = nix::unistd::setgroups(&[]) {
            fail(Stage::Identity, e);
        }
    }
    if let Err(e) = nix::unistd::setresuid(root_uid, root_uid, root_uid) {
        fail(Stage::Identity, e);
    }
    // Changing credentials clears the parent-death signal: set it again.
    if let Err(e) = set_parent_death_signal(Some(input.runner)) {
        fail(Stage::ParentDeathSignal, e);
    }

    let init = match start_init(input) {
        Ok(pid) => pid,
        Err(e) => fail(Stage::Fork, e),
    };
    // The runner sweeps the step's processes through the init's view of them.
    report(REPORT_FD, Record::InitForked { pid: init.as_raw() });

    loop {
        match relayed.wait() {
            Ok(Signal::SIGINT) => {
                let _ = kill(init, Signal::SIGINT);
            }
            Ok(Signal::SIGTERM) => {
                // Killing the init of a PID namespace kills every process in it.
                let _ = kill(init, Signal::SIGKILL);
            }
            Ok(_) => match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                _ => exit(0),
            },
            Err(_) => {}
        }
    }
}

/// The init's stack: mapped lazily, so only the pages it touches cost memory (its frames are
/// small; `posix_spawn` maps its own stack for the step's short-lived clone).
const INIT_STACK_BYTES: usize = 1 << 20;

/// Starts the init as a child of the monitor that shares the monitor's memory (`CLONE_VM`), on
/// a stack of its own with a guard page below it.
///
/// Why not `fork`: the monitor's memory is already a private copy of the runner's, made by the
/// monitor's own fork; copying it once more for the init cost as much again per step (page
/// tables copied, then torn down when the init ends). Sharing it is sound because the monitor,
/// once the init is started, only waits for signals and the init's end and never touches what
/// the init uses: `input` is handed over and not read again by the monitor. Both live in the
/// same copy of the runner's thread-local storage, so an `errno` read by one could in principle
/// be the other's; the monitor's loop does not depend on `errno` values, and the init's error
/// reports could at worst name the wrong number in that race. Making the init non-dumpable makes
/// the shared memory (and so the monitor) non-dumpable too, which only hardens the monitor.
fn start_init(input: &mut ForkInput<'_>) -> Result<Pid, Errno> {
    // SAFETY: an anonymous private mapping; no pointers go in, the result is checked below.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            INIT_STACK_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    // A guard page at the low end: an overflow faults instead of writing over the monitor's
    // memory. 4096 is the smallest page size on Linux; a larger page is guarded in part, which
    // still stops a descending stack at its first touch of the guard.
    // SAFETY: `stack` is the start of the mapping made above, at least one page long.
    Errno::result(unsafe { libc::mprotect(stack, 4096, libc::PROT_NONE) })?;
    // SAFETY: `INIT_STACK_BYTES` is the mapping's length, so this is its (16-byte aligned) end,
    // where a descending stack starts.
    let top = unsafe { stack.cast::<u8>().add(INIT_STACK_BYTES) };
    let arg: *mut ForkInput<'_> = input;
    // SAFETY: the child runs `init_entry` on the new stack with `arg`, which points to the
    // monitor's `ForkInput`; that stays valid because the monitor never returns from `monitor`,
    // and the monitor does not use it again (see above). `SIGCHLD` makes it a child the monitor
    // reaps with `waitpid` as before.
    let pid = unsafe {
        libc::clone(
            init_entry,
            top.cast(),
            libc::CLONE_VM | libc::SIGCHLD,
            arg.cast(),
        )
    };
    Errno::result(pid).map(Pid::from_raw)
}

extern "C" fn init_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ForkInput` that `start_init` passed, valid and used by nobody else
    // from now on.
    let input = unsafe { &mut *arg.cast::<ForkInput<'_>>() };
    init(input)
}

/// Builds the sandbox's file system on [`NEW_ROOT`] and moves into it, with the hostname and
/// loopback of the new namespaces (the set-up sandbox's init).
fn build_root(input: &ForkInput<'_>) {
    if let Err(e) = mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&CStr>,
    ) {
        fail(Stage::MakePrivate, e);
    }
    for op in &input.image.ops {
        if let Err((stage, e)) = run_op(op, input.source_fds) {
            fail(stage, e);
        }
    }
    if let Err(e) = nix::unistd::sethostname(OsStr::new(&input.image.hostname)) {
        fail(Stage::Hostname, e);
    }
    if input.image.own_network {
        if let Err(e) = sys::bring_loopback_up() {
            fail(Stage::Loopback, e);
        }
    }
    // Stack the new root over the old one and detach the old: the host file system is then
    // unreachable from the sandbox.
    let pivot = nix::unistd::chdir(NEW_ROOT).and_then(|()| nix::unistd::pivot_root(c".", c"."));
    if let Err(e) = pivot {
        fail(Stage::PivotRoot, e);
    }
    if let Err(e) = umount2(c".", MntFlags::MNT_DETACH).and_then(|()| nix::unistd::chdir(c"/")) {
        fail(Stage::DetachHost, e);
    }
}

/// The init: PID 1 of the sandbox's PID namespace. Never returns.
fn init(input: &mut ForkInput<'_>) -> ! {
    // Our parent is the monitor; if it dies, so must we (and with us the namespace).
    if let Err(e) = set_parent_death_signal(None) {
        fail(Stage::ParentDeathSignal, e);
    }
    // The step sees the init (PID 1) and runs as its uid: were the init dumpable, the step
    // could read its /proc/1/environ and memory, a copy of the runner's (secrets included),
    // when the runner is not root and so keeps its uid in the sandbox.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        fail(Stage::Identity, e);
    }
    umask(Mode::empty());
    if input.enter.is_some() {
        // A private copy of the job's mount namespace, already on the sandbox's root (its
        // mounts are private, so nothing mounted here reaches the job's or the host's).
        open_sources(&input.image.step_sources, input.source_fds);
        for op in &input.image.step_ops {
            if let Err((stage, e)) = run_op(op, input.source_fds) {
                fail(stage, e);
            }
        }
    } else {
        build_root(input);
    }
    if let Err(e) = sys::drop_all_capabilities() {
        fail(Stage::Capabilities, e);
    }
    let Some(exec) = input.exec.as_ref() else {
        report(REPORT_FD, Record::SetupDone);
        exit(0);
    };

    let step_pid = match spawn_step(exec) {
        Ok(pid) => pid,
        Err(failed) => finish(failed),
    };
    report(REPORT_FD, Record::Started);

    let relayed = relayed_signals();
    loop {
        match relayed.wait() {
            Ok(Signal::SIGINT) => {
                // From PID 1, pid -1 means every other process of the namespace.
                let _ = kill(Pid::from_raw(-1), Signal::SIGINT);
            }
            Ok(Signal::SIGTERM) => {
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            }
            Ok(_) => loop {
                match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == step_pid => {
                        finish_held(Record::Status {
                            signaled: false,
                            value: code,
                        })
                    }
                    Ok(WaitStatus::Signaled(pid, signal, _)) if pid == step_pid => {
                        finish_held(Record::Status {
                            signaled: true,
                            value: signal as i32,
                        })
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {} // an orphan adopted by init: reaped, keep going
                }
            },
            Err(_) => {}
        }
    }
}

/// Reports the step's status and ends the init, which ends every process left in the namespace.
fn finish(record: Record) -> ! {
    report(REPORT_FD, record);
    exit(0)
}

/// Reports the step's status, then waits for the runner's release on [`GO_FD`] before ending
/// the init: meanwhile the processes the step left running still exist, and the runner sweeps
/// them. Without sweeps the descriptor is `/dev/null`, which releases at once; a runner that
/// is gone releases too (end of file), and the monitor's death kills the init anyway.
fn finish_held(record: Record) -> ! {
    report(REPORT_FD, record);
    let mut byte = [0u8; 1];
    // SAFETY: reads at most one byte into a local buffer.
    let _ = unsafe { libc::read(GO_FD, byte.as_mut_ptr().cast(), 1) };
    exit(0)
}

/// Starts the step's program as the init's child, in the step's working directory, in a
/// session of its own, with every signal at its default and none blocked, and umask 022.
/// `posix_spawn` starts it with a vfork-style clone that borrows the init's memory until
/// `execve`: the helpers' copy of the runner's address space is not copied once more for a child
/// that replaces it at once. `Err` is the record to report when it cannot start.
fn spawn_step(exec: &ExecPointers<'_>) -> Result<Pid, Record> {
    // The init needs no working directory or umask of its own any more: the step inherits both.
    if let Err(e) = nix::unistd::chdir(exec.working_dir) {
        return Err(Record::ExecFailed {
            in_chdir: true,
            errno: e as i32,
        });
    }
    umask(Mode::from_bits_truncate(0o022));
    let attr_failed = |rc: i32| Record::SetupFailed {
        stage: Stage::Spawn as i32,
        errno: rc,
    };
    let mut attr = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
    // SAFETY: posix_spawnattr_init initialises the attribute object `attr` points to.
    let rc = unsafe { libc::posix_spawnattr_init(attr.as_mut_ptr()) };
    if rc != 0 {
        return Err(attr_failed(rc));
    }
    let attr = attr.as_mut_ptr();
    let flags = libc::POSIX_SPAWN_SETSIGDEF
        | libc::POSIX_SPAWN_SETSIGMASK
        | i32::from(libc::POSIX_SPAWN_SETSID);
    // Ignored signals survive exec (the runner ignores SIGPIPE): every one goes back to default.
    let (all, none) = (SigSet::all(), SigSet::empty());
    // SAFETY: `attr` was initialised above; the signal sets are valid `sigset_t`s that the calls
    // copy. The flags fit a `c_short` (they are 0x04, 0x08 and 0x80).
    let rc = unsafe {
        let set = [
            libc::posix_spawnattr_setsigdefault(attr, all.as_ref()),
            libc::posix_spawnattr_setsigmask(attr, none.as_ref()),
            libc::posix_spawnattr_setflags(attr, flags as libc::c_short),
        ];
        set.into_iter().find(|rc| *rc != 0).unwrap_or(0)
    };
    let mut result = Err(attr_failed(rc));
    if rc == 0 {
        let mut errno = libc::ENOENT;
        for candidate in exec.candidates {
            // Not in this PATH entry: skip it without starting a child for nothing.
            if let Err(Errno::ENOENT | Errno::ENOTDIR) =
                nix::unistd::access(candidate.as_c_str(), nix::unistd::AccessFlags::F_OK)
            {
                continue;
            }
            let mut pid: libc::pid_t = 0;
            // SAFETY: `candidate` is NUL-terminated; `argv` and `envp` are NULL-terminated arrays
            // of pointers into CStrings prepared before the fork, unchanged in this process's copy
            // of the runner's memory; `attr` is initialised; no file actions.
            let rc = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    candidate.as_ptr(),
                    std::ptr::null(),
                    attr,
                    exec.argv.as_ptr().cast(),
                    exec.envp.as_ptr().cast(),
                )
            };
            match rc {
                0 => {
                    result = Ok(Pid::from_raw(pid));
                    break;
                }
                // Gone since `access`, or not executable as found: try the next, as execvp does;
                // the first error other than "not found" is the one reported.
                libc::ENOENT | libc::ENOTDIR => {}
                e if errno == libc::ENOENT => errno = e,
                _ => {}
            }
        }
        if result.is_err() {
            result = Err(Record::ExecFailed {
                in_chdir: false,
                errno,
            });
        }
    }
    // SAFETY: destroys the attribute object initialised above, once.
    unsafe { libc::posix_spawnattr_destroy(attr) };
    result
}
