//! Per-step cgroups: memory and process-count limits, and a list of every process of a step.
//!
//! The host may offer cgroup v1 hierarchies (one per controller, as on this project's build
//! machine), the unified v2 hierarchy, or a mix. For each limit a step asks for we use the v1
//! hierarchy of that controller if one is mounted (a controller bound to v1 is absent from v2),
//! else the v2 hierarchy, creating the step's cgroup as a child of the runner's own cgroup. When
//! neither works (no permission, controller not delegated) the step runs without the limit and the
//! [`LimitReport`] says why.
//!
//! Must never: fail a step because a limit could not be set (that is reported, not fatal), touch a
//! cgroup it did not create, or leave its cgroup directories behind (they are removed on drop, after
//! every process in them is killed).

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{LimitKind, LimitReport, LimitStatus, ResourceLimits};

/// One cgroup file system mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Which part of the hierarchy the mount shows (`/` unless the mount is a bind of a subtree).
    pub root: String,
    /// `None` for the unified v2 hierarchy; for v1, the controllers (and `name=` tags) it holds.
    pub v1_controllers: Option<Vec<String>>,
}

/// One line of `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    /// Controllers of the hierarchy; empty for v2.
    pub controllers: Vec<String>,
    /// The process's cgroup in that hierarchy.
    pub path: String,
}

/// Decodes the octal escapes (`\040` for a space) that mountinfo uses in paths.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes.get(i) == Some(&b'\\') && d.iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes.get(i).copied().unwrap_or(b'?'));
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the cgroup mounts out of `/proc/self/mountinfo` text.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let (Some(root), Some(mount_point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let mut tail = after.split(' ');
        let fstype = tail.next().unwrap_or("");
        let _source = tail.next();
        let super_options = tail.next().unwrap_or("");
        let v1_controllers = match fstype {
            "cgroup2" => None,
            "cgroup" => Some(
                super_options
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro"))
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => continue,
        };
        mounts.push(CgroupMount {
            mount_point: PathBuf::from(unescape_mountinfo(mount_point)),
            root: unescape_mountinfo(root),
            v1_controllers,
        });
    }
    mounts
}

/// Parses `/proc/self/cgroup` text.
pub(crate) fn parse_memberships(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// Where the runner's own cgroup of each hierarchy lives in the file system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CgroupLayout {
    mounts: Vec<CgroupMount>,
    memberships: Vec<Membership>,
}

/// The runner's own cgroup directory in one hierarchy, or why there is none.
type OwnDir = Result<PathBuf, String>;

impl CgroupLayout {
    pub(crate) fn from_texts(mountinfo: &str, proc_cgroup: &str) -> Self {
        CgroupLayout {
            mounts: parse_mountinfo(mountinfo),
            memberships: parse_memberships(proc_cgroup),
        }
    }

    /// Reads the layout of the running process.
    pub(crate) fn discover() -> Self {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let proc_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Self::from_texts(&mountinfo, &proc_cgroup)
    }

    fn join(mount: &CgroupMount, path: &str) -> OwnDir {
        let relative = if mount.root == "/" {
            path
        } else {
            path.strip_prefix(mount.root.as_str()).ok_or_else(|| {
                format!(
                    "our cgroup {path} is outside the part {} mounted at {}",
                    mount.root,
                    mount.mount_point.display()
                )
            })?
        };
        Ok(mount.mount_point.join(relative.trim_start_matches('/')))
    }

    /// The runner's cgroup directory in the v1 hierarchy holding `controller`, if mounted.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<OwnDir> {
        let mount = self.mounts.iter().find(|m| {
            m.v1_controllers
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c == controller))
        })?;
        let member = self
            .memberships
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller));
        Some(match member {
            Some(member) => Self::join(mount, &member.path),
            None => Err(format!("/proc/self/cgroup lists no {controller} hierarchy")),
        })
    }

    /// The runner's cgroup directory in the unified v2 hierarchy, if mounted.
    pub(crate) fn v2_dir(&self) -> Option<OwnDir> {
        let mount = self.mounts.iter().find(|m| m.v1_controllers.is_none())?;
        let member = self.memberships.iter().find(|m| m.controllers.is_empty());
        Some(match member {
            Some(member) => Self::join(mount, &member.path),
            None => Err("/proc/self/cgroup has no v2 (0::) line".to_owned()),
        })
    }
}

/// The cgroups of one running step.
#[derive(Debug, Default)]
pub(crate) struct StepCgroup {
    /// Directories we created, each in a different hierarchy.
    dirs: Vec<PathBuf>,
    /// The v1 memory directory or the v2 directory, for memory counters.
    memory_dir: Option<(PathBuf, CgroupVersion)>,
    /// The v2 directory, for `cgroup.kill`.
    v2_dir: Option<PathBuf>,
    /// `cgroup.procs` of every directory, for the child to join before it runs the step.
    join_files: Vec<CString>,
    reports: Vec<LimitReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CgroupVersion {
    V1,
    V2,
}

fn io_reason(what: &str, path: &Path, err: &io::Error) -> String {
    format!("{what} {}: {err}", path.display())
}

impl StepCgroup {
    /// Sets up cgroups named `name` for the limits asked for. With `track` it also creates one
    /// cgroup when no limit needs it, so every process of the step can be listed and killed.
    /// Never fails: what could not be set up is in [`StepCgroup::reports`].
    pub(crate) fn create(
        layout: &CgroupLayout,
        name: &str,
        limits: &ResourceLimits,
        track: bool,
    ) -> Self {
        let mut cg = StepCgroup::default();
        let mut v2_child: Option<Result<PathBuf, String>> = None;
        let wants = [
            (LimitKind::Memory, "memory", limits.memory_bytes),
            (LimitKind::Processes, "pids", limits.max_processes),
        ];
        for (kind, controller, value) in wants {
            let Some(value) = value else { continue };
            let status = cg.apply(layout, name, controller, value, &mut v2_child);
            cg.reports.push(LimitReport { kind, status });
        }
        if track && cg.dirs.is_empty() {
            // No limit created a cgroup: one without limits still lists every process.
            let created = match layout.v2_dir() {
                Some(Ok(own)) => cg.make_dir(&own, name, Some(CgroupVersion::V2)).ok(),
                _ => None,
            };
            if created.is_none() {
                if let Some(Ok(own)) = layout.v1_dir("pids") {
                    let _ = cg.make_dir(&own, name, None);
                }
            }
        }
        cg
    }

    fn make_dir(
        &mut self,
        own: &Path,
        name: &str,
        v2: Option<CgroupVersion>,
    ) -> Result<PathBuf, String> {
        let dir = own.join(name);
        fs::create_dir(&dir).map_err(|e| io_reason("cannot create cgroup", &dir, &e))?;
        let procs = dir.join("cgroup.procs");
        if let Ok(c) = CString::new(procs.as_os_str().as_bytes()) {
            self.join_files.push(c);
        }
        self.dirs.push(dir.clone());
        if v2.is_some() {
            self.v2_dir = Some(dir.clone());
        }
        Ok(dir)
    }

    fn apply(
        &mut self,
        layout: &CgroupLayout,
        name: &str,
        controller: &str,
        value: u64,
        v2_child: &mut Option<Result<PathBuf, String>>,
    ) -> LimitStatus {
        let result = match layout.v1_dir(controller) {
            Some(own) => own.and_then(|own| self.apply_v1(&own, name, controller, value)),
            None => match layout.v2_dir() {
                Some(own) => own.and_then(|own| {
                    let child = v2_child
                        .get_or_insert_with(|| self.make_dir(&own, name, Some(CgroupVersion::V2)))
                        .clone()?;
                    self.apply_v2(&own, &child, controller, value)
                }),
                None => Err(format!(
                    "no {controller} controller is mounted (neither cgroup v1 nor v2)"
                )),
            },
        };
        match result {
            Ok(mechanism) => LimitStatus::Applied { mechanism },
            Err(reason) => LimitStatus::NotApplied { reason },
        }
    }

    fn apply_v1(
        &mut self,
        own: &Path,
        name: &str,
        controller: &str,
        value: u64,
    ) -> Result<String, String> {
        let dir = self.make_dir(own, name, None)?;
        let (file, extra) = match controller {
            "memory" => ("memory.limit_in_bytes", Some("memory.memsw.limit_in_bytes")),
            _ => ("pids.max", None),
        };
        let path = dir.join(file);
        fs::write(&path, value.to_string()).map_err(|e| io_reason("cannot write", &path, &e))?;
        if let Some(extra) = extra {
            // Without swap accounting the file is absent; the limit above still holds.
            let _ = fs::write(dir.join(extra), value.to_string());
        }
        if controller == "memory" {
            self.memory_dir = Some((dir.clone(), CgroupVersion::V1));
        }
        Ok(format!("cgroup v1 {}", path.display()))
    }

    fn apply_v2(
        &mut self,
        own: &Path,
        child: &Path,
        controller: &str,
        value: u64,
    ) -> Result<String, String> {
        let has_controller = |dir: &Path| {
            fs::read_to_string(dir.join("cgroup.controllers"))
                .map(|c| c.split_whitespace().any(|c| c == controller))
                .unwrap_or(false)
        };
        if !has_controller(child) {
            let subtree = own.join("cgroup.subtree_control");
            fs::write(&subtree, format!("+{controller}")).map_err(|e| {
                format!(
                    "the {controller} controller is not delegated to {} and enabling it failed \
                     ({}: {e})",
                    own.display(),
                    subtree.display()
                )
            })?;
            if !has_controller(child) {
                return Err(format!(
                    "the {controller} controller is not available in cgroup v2"
                ));
            }
        }
        let file = match controller {
            "memory" => "memory.max",
            _ => "pids.max",
        };
        let path = child.join(file);
        fs::write(&path, value.to_string()).map_err(|e| io_reason("cannot write", &path, &e))?;
        if controller == "memory" {
            // Keep the tree from escaping the limit into swap; absent without swap accounting.
            let _ = fs::write(child.join("memory.swap.max"), "0");
            self.memory_dir = Some((child.to_path_buf(), CgroupVersion::V2));
        }
        Ok(format!("cgroup v2 {}", path.display()))
    }

    /// What became of each requested limit.
    pub(crate) fn reports(&self) -> &[LimitReport] {
        &self.reports
    }

    /// The `cgroup.procs` files a child writes `0` to, to move itself into the step's cgroups.
    pub(crate) fn join_files(&self) -> &[CString] {
        &self.join_files
    }

    /// True when at least one cgroup lists the step's processes.
    pub(crate) fn tracks(&self) -> bool {
        !self.dirs.is_empty()
    }

    fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Sends `signal` once to every process listed in the step's cgroups.
    pub(crate) fn signal_all(&self, signal: Signal) {
        for pid in self.pids() {
            if pid > 0 {
                let _ = kill(Pid::from_raw(pid), signal);
            }
        }
    }

    /// Kills every process in the step's cgroups and returns once they are gone (bounded).
    pub(crate) fn kill_all(&self) {
        if let Some(dir) = &self.v2_dir {
            let _ = fs::write(dir.join("cgroup.kill"), "1");
        }
        // A process may fork between reading the list and the kill: repeat until empty.
        for _ in 0..200 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                if pid > 0 {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Peak memory charged to the step, where a memory cgroup was set up.
    pub(crate) fn peak_memory(&self) -> Option<u64> {
        let (dir, version) = self.memory_dir.as_ref()?;
        let file = match version {
            CgroupVersion::V1 => "memory.max_usage_in_bytes",
            CgroupVersion::V2 => "memory.peak",
        };
        fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
    }

    /// How many processes the OOM killer ended in the step's memory cgroup.
    pub(crate) fn oom_kills(&self) -> Option<u64> {
        let (dir, version) = self.memory_dir.as_ref()?;
        let file = match version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        let text = fs::read_to_string(dir.join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
    }
}

impl Drop for StepCgroup {
    fn drop(&mut self) {
        if self.dirs.is_empty() {
            return;
        }
        self.kill_all();
        for dir in &self.dirs {
            // Exiting processes leave the cgroup a moment after they are killed.
            for _ in 0..100 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const PROC_CGROUP_V1: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/e218
0::/
";

    #[test]
    fn finds_v1_controller_directories_under_our_own_cgroup() {
        let layout = CgroupLayout::from_texts(MOUNTINFO_V1, PROC_CGROUP_V1);
        assert_eq!(
            layout.v1_dir("memory"),
            Some(Ok(PathBuf::from("/sys/fs/cgroup/memory/process_api/e218")))
        );
        assert_eq!(
            layout.v1_dir("pids"),
            Some(Ok(PathBuf::from("/sys/fs/cgroup/pids/")))
        );
        assert_eq!(layout.v1_dir("cpu"), None);
        assert_eq!(
            layout.v2_dir(),
            Some(Ok(PathBuf::from("/sys/fs/cgroup/unified/")))
        );
    }

    #[test]
    fn finds_v2_directory_on_a_unified_host() {
        let mountinfo = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n";
        let layout = CgroupLayout::from_texts(mountinfo, cgroup);
        assert_eq!(layout.v1_dir("memory"), None);
        assert_eq!(
            layout.v2_dir(),
            Some(Ok(PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"
            )))
        );
    }

    #[test]
    fn subtracts_the_mount_root_of_a_bound_subtree() {
        let mountinfo = "41 31 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let layout = CgroupLayout::from_texts(mountinfo, "0::/docker/abc/job\n");
        assert_eq!(
            layout.v2_dir(),
            Some(Ok(PathBuf::from("/sys/fs/cgroup/job")))
        );
        let outside = CgroupLayout::from_texts(mountinfo, "0::/elsewhere\n");
        assert!(matches!(outside.v2_dir(), Some(Err(_))));
    }

    #[test]
    fn decodes_escaped_spaces_in_mount_points() {
        let mounts = parse_mountinfo("1 2 0:1 / /a\\040b rw - cgroup2 none rw\n");
        assert_eq!(mounts[0].mount_point, PathBuf::from("/a b"));
    }

    #[test]
    fn ignores_garbage_lines() {
        assert!(parse_mountinfo("nonsense\n\n - \\\n").is_empty());
        assert!(parse_memberships("x\n").is_empty());
    }

    #[test]
    fn reports_not_applied_when_no_hierarchy_exists() {
        let layout = CgroupLayout::from_texts("", "");
        let limits = ResourceLimits {
            memory_bytes: Some(1 << 20),
            max_processes: Some(10),
        };
        let cg = StepCgroup::create(&layout, "x", &limits, true);
        assert_eq!(cg.reports().len(), 2);
        assert!(cg
            .reports()
            .iter()
            .all(|r| matches!(r.status, LimitStatus::NotApplied { .. })));
        assert!(!cg.tracks());
    }
}
