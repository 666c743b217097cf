//! The file system a sandboxed step sees, as a list of mount operations.
//!
//! Built once per executor in the runner (where allocating and reading the host's file system is
//! fine) and replayed after `fork`, where only system calls are made: the job's file system by
//! the set-up sandbox's init, once per job; [`MountPlan::for_each_step`] by each step's init, in its
//! own copy of the job's mount namespace.
//! The new root is a small tmpfs holding mount points: the host's system directories bound
//! read-only, a `/proc`, a minimal read-only `/dev` with a writable `/dev/shm`, `/sys`, a private
//! `/tmp`, then the configured read-only and writable paths at their own (canonical) paths;
//! finally the tmpfs itself is made read-only so nothing can be created outside the writable
//! binds. Each step mounts its own `/proc` (for its own PID namespace) and, unless `/tmp` is a
//! per-job directory, a fresh `/tmp` and `/dev/shm`.
//!
//! Must never: bind anything writable that the configuration did not list, or mount a path through
//! a symbolic link (every target is canonical, so no link can redirect a mount onto the host).

use std::path::{Component, Path, PathBuf};

/// Host directories the sandbox sees read-only (or as the same symbolic link, on merged-`/usr`
/// systems). Absent ones are skipped.
pub(crate) const SYSTEM_PATHS: [&str; 9] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// Device nodes bound from the host's `/dev` (a user namespace cannot create device nodes).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Paths the sandbox builds itself: configured binds may not go there.
pub(crate) const RESERVED: [&str; 4] = ["/proc", "/dev", "/sys", "/tmp"];

/// What a host path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostEntry {
    Dir,
    File,
    Symlink(PathBuf),
}

/// Looks a path up on the host without following a final symbolic link.
pub(crate) fn host_entry(path: &Path) -> Option<HostEntry> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        std::fs::read_link(path).ok().map(HostEntry::Symlink)
    } else if meta.is_dir() {
        Some(HostEntry::Dir)
    } else {
        Some(HostEntry::File)
    }
}

/// One mount-related operation; paths are as the sandbox will see them (below the new root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountOp {
    /// A fresh tmpfs with these mount options.
    Tmpfs { target: PathBuf, options: String },
    /// A directory (an existing one is fine).
    Mkdir { path: PathBuf, mode: u32 },
    /// An empty file to bind a file onto (an existing one is fine).
    Touch { path: PathBuf },
    /// A symbolic link `link` → `target`.
    Symlink { target: PathBuf, link: PathBuf },
    /// Binds `sources[source]` of the host onto `target`, recursively, optionally read-only.
    Bind {
        source: usize,
        target: PathBuf,
        read_only: bool,
    },
    /// Binds a single host device node (not recursive, writable).
    BindDevice { source: usize, target: PathBuf },
    /// A fresh procfs for the sandbox's PID namespace.
    Proc { target: PathBuf },
    /// A fresh read-only sysfs for the sandbox's network namespace; skipped if the kernel refuses.
    Sysfs { target: PathBuf },
    /// Makes the mount at `target` read-only (the new root's own tmpfs last of all).
    RemountReadOnly { target: PathBuf },
}

/// The mounts of a sandbox and the host paths they bind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MountPlan {
    /// Host paths, opened by the sandbox before it changes identity.
    pub sources: Vec<PathBuf>,
    pub ops: Vec<MountOp>,
}

/// What the plan is built from (paths already canonical and validated).
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanInput {
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    pub tmp_dir: Option<PathBuf>,
    /// True when the sandbox has its own network namespace (network denied).
    pub own_network: bool,
}

impl MountPlan {
    fn source(&mut self, path: &Path) -> usize {
        self.sources.push(path.to_path_buf());
        self.sources.len() - 1
    }

    fn mkdir(&mut self, path: &str, mode: u32) {
        self.ops.push(MountOp::Mkdir {
            path: PathBuf::from(path),
            mode,
        });
    }

    /// Creates every missing ancestor of `path` (not `path` itself).
    fn ancestors(&mut self, path: &Path) {
        let mut at = PathBuf::from("/");
        let parts: Vec<Component> = path.components().collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            if let Component::Normal(name) = part {
                at.push(name);
                self.ops.push(MountOp::Mkdir {
                    path: at.clone(),
                    mode: 0o755,
                });
            }
        }
    }

    /// Builds the plan; `lookup` says what a host path is.
    pub(crate) fn build(input: &PlanInput, lookup: &dyn Fn(&Path) -> Option<HostEntry>) -> Self {
        let mut plan = MountPlan::default();
        plan.ops.push(MountOp::Tmpfs {
            target: PathBuf::from("/"),
            options: "mode=0755".to_owned(),
        });
        for dir in SYSTEM_PATHS {
            let path = Path::new(dir);
            match lookup(path) {
                Some(HostEntry::Symlink(target)) => plan.ops.push(MountOp::Symlink {
                    target,
                    link: path.to_path_buf(),
                }),
                Some(HostEntry::Dir) => {
                    plan.mkdir(dir, 0o755);
                    let source = plan.source(path);
                    plan.ops.push(MountOp::Bind {
                        source,
                        target: path.to_path_buf(),
                        read_only: true,
                    });
                }
                Some(HostEntry::File) | None => {}
            }
        }

        plan.mkdir("/proc", 0o555);
        plan.ops.push(MountOp::Proc {
            target: PathBuf::from("/proc"),
        });

        plan.mkdir("/dev", 0o755);
        plan.ops.push(MountOp::Tmpfs {
            target: PathBuf::from("/dev"),
            options: "mode=0755".to_owned(),
        });
        for name in DEVICES {
            let path = Path::new("/dev").join(name);
            if lookup(&path).is_some() {
                plan.ops.push(MountOp::Touch { path: path.clone() });
                let source = plan.source(&path);
                plan.ops.push(MountOp::BindDevice {
                    source,
                    target: path,
                });
            }
        }
        for (link, target) in [
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ] {
            plan.ops.push(MountOp::Symlink {
                target: PathBuf::from(target),
                link: PathBuf::from(link),
            });
        }
        plan.mkdir("/dev/shm", 0o1777);
        // Populated: no step may change what later steps of the job find in /dev.
        plan.ops.push(MountOp::RemountReadOnly {
            target: PathBuf::from("/dev"),
        });
        plan.ops.push(MountOp::Tmpfs {
            target: PathBuf::from("/dev/shm"),
            options: "mode=1777".to_owned(),
        });

        plan.mkdir("/sys", 0o555);
        if input.own_network {
            plan.ops.push(MountOp::Sysfs {
                target: PathBuf::from("/sys"),
            });
        } else if lookup(Path::new("/sys")).is_some() {
            // The host's network namespace: its sysfs is the right view, read-only.
            let source = plan.source(Path::new("/sys"));
            plan.ops.push(MountOp::Bind {
                source,
                target: PathBuf::from("/sys"),
                read_only: true,
            });
        }

        plan.mkdir("/tmp", 0o1777);
        match &input.tmp_dir {
            Some(dir) => {
                let source = plan.source(dir);
                plan.ops.push(MountOp::Bind {
                    source,
                    target: PathBuf::from("/tmp"),
                    read_only: false,
                });
            }
            None => plan.ops.push(MountOp::Tmpfs {
                target: PathBuf::from("/tmp"),
                options: "mode=1777".to_owned(),
            }),
        }

        plan.bind_configured(&configured_paths(input), lookup);
        plan.ops.push(MountOp::RemountReadOnly {
            target: PathBuf::from("/"),
        });
        plan
    }

    /// What each step mounts in its own copy of the job's mount namespace, at final paths: a
    /// `/proc` of its own PID namespace and, unless `/tmp` is a per-job directory, a fresh `/tmp`
    /// and `/dev/shm`, with the configured paths below `/tmp` bound again on top (their sources,
    /// the job's mounts of them, are opened before the fresh `/tmp` hides them).
    pub(crate) fn for_each_step(
        input: &PlanInput,
        lookup: &dyn Fn(&Path) -> Option<HostEntry>,
    ) -> Self {
        let mut plan = MountPlan::default();
        plan.ops.push(MountOp::Proc {
            target: PathBuf::from("/proc"),
        });
        if input.tmp_dir.is_none() {
            for target in ["/tmp", "/dev/shm"] {
                plan.ops.push(MountOp::Tmpfs {
                    target: PathBuf::from(target),
                    options: "mode=1777".to_owned(),
                });
            }
            let mut below_tmp = configured_paths(input);
            below_tmp.retain(|(path, _)| path.starts_with("/tmp"));
            plan.bind_configured(&below_tmp, lookup);
        }
        plan
    }

    /// Binds the configured paths at their own paths, creating their mount points.
    fn bind_configured(
        &mut self,
        paths: &[(&PathBuf, bool)],
        lookup: &dyn Fn(&Path) -> Option<HostEntry>,
    ) {
        for (path, read_only) in paths {
            self.ancestors(path);
            match lookup(path) {
                Some(HostEntry::File) => self.ops.push(MountOp::Touch {
                    path: path.to_path_buf(),
                }),
                _ => self.ops.push(MountOp::Mkdir {
                    path: path.to_path_buf(),
                    mode: 0o755,
                }),
            }
            let source = self.source(path);
            self.ops.push(MountOp::Bind {
                source,
                target: path.to_path_buf(),
                read_only: *read_only,
            });
        }
    }
}

/// The configured paths with whether each is read-only, parents before children (so a writable
/// workspace inside a read-only tree stays writable), at equal depth read-only first.
fn configured_paths(input: &PlanInput) -> Vec<(&PathBuf, bool)> {
    let mut paths: Vec<(&PathBuf, bool)> = input
        .read_only
        .iter()
        .map(|p| (p, true))
        .chain(input.writable.iter().map(|p| (p, false)))
        .collect();
    paths.sort_by_key(|(p, ro)| (p.components().count(), !ro));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged_usr_host(path: &Path) -> Option<HostEntry> {
        match path.to_str()? {
            "/usr" | "/etc" | "/sys" | "/work" | "/work/ws" => Some(HostEntry::Dir),
            "/bin" => Some(HostEntry::Symlink(PathBuf::from("usr/bin"))),
            "/lib64" => Some(HostEntry::Symlink(PathBuf::from("usr/lib64"))),
            "/dev/null" | "/dev/zero" | "/work/tool.json" => Some(HostEntry::File),
            _ => None,
        }
    }

    fn binds(plan: &MountPlan) -> Vec<(String, String, bool)> {
        plan.ops
            .iter()
            .filter_map(|op| match op {
                MountOp::Bind {
                    source,
                    target,
                    read_only,
                } => Some((
                    plan.sources[*source].display().to_string(),
                    target.display().to_string(),
                    *read_only,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn binds_system_directories_read_only_and_copies_symlinks() {
        let plan = MountPlan::build(&PlanInput::default(), &merged_usr_host);
        let b = binds(&plan);
        assert!(b.contains(&("/usr".into(), "/usr".into(), true)));
        assert!(b.contains(&("/etc".into(), "/etc".into(), true)));
        assert!(plan.ops.contains(&MountOp::Symlink {
            target: PathBuf::from("usr/bin"),
            link: PathBuf::from("/bin"),
        }));
        assert!(!b.iter().any(|(s, _, _)| s == "/opt" || s == "/sbin"));
    }

    #[test]
    fn binds_workspace_writable_after_its_read_only_parent() {
        let input = PlanInput {
            read_only: vec![PathBuf::from("/work")],
            writable: vec![PathBuf::from("/work/ws")],
            ..PlanInput::default()
        };
        let plan = MountPlan::build(&input, &merged_usr_host);
        let b = binds(&plan);
        let ro = b
            .iter()
            .position(|x| x == &("/work".into(), "/work".into(), true));
        let rw = b
            .iter()
            .position(|x| x == &("/work/ws".into(), "/work/ws".into(), false));
        assert!(matches!((ro, rw), (Some(a), Some(b)) if a < b), "{b:?}");
    }

    #[test]
    fn uses_tmpfs_for_tmp_unless_a_directory_is_given() {
        let plan = MountPlan::build(&PlanInput::default(), &merged_usr_host);
        assert!(plan.ops.contains(&MountOp::Tmpfs {
            target: PathBuf::from("/tmp"),
            options: "mode=1777".to_owned()
        }));
        let input = PlanInput {
            tmp_dir: Some(PathBuf::from("/work")),
            ..PlanInput::default()
        };
        let plan = MountPlan::build(&input, &merged_usr_host);
        assert!(binds(&plan).contains(&("/work".into(), "/tmp".into(), false)));
    }

    #[test]
    fn mounts_fresh_sysfs_only_with_its_own_network() {
        let own = PlanInput {
            own_network: true,
            ..PlanInput::default()
        };
        let plan = MountPlan::build(&own, &merged_usr_host);
        assert!(plan.ops.iter().any(|o| matches!(o, MountOp::Sysfs { .. })));
        assert!(!binds(&plan).iter().any(|(s, _, _)| s == "/sys"));
        let plan = MountPlan::build(&PlanInput::default(), &merged_usr_host);
        assert!(binds(&plan).contains(&("/sys".into(), "/sys".into(), true)));
    }

    #[test]
    fn binds_only_devices_the_host_has_and_ends_read_only() {
        let plan = MountPlan::build(&PlanInput::default(), &merged_usr_host);
        let devices: Vec<&PathBuf> = plan
            .ops
            .iter()
            .filter_map(|o| match o {
                MountOp::BindDevice { target, .. } => Some(target),
                _ => None,
            })
            .collect();
        assert_eq!(devices, [Path::new("/dev/null"), Path::new("/dev/zero")]);
        assert_eq!(
            plan.ops.last(),
            Some(&MountOp::RemountReadOnly {
                target: PathBuf::from("/")
            })
        );
        assert!(plan.ops.contains(&MountOp::RemountReadOnly {
            target: PathBuf::from("/dev")
        }));
        assert!(
            matches!(plan.ops.first(), Some(MountOp::Tmpfs { target, .. }) if target == Path::new("/"))
        );
    }

    #[test]
    fn steps_mount_their_own_proc_and_fresh_scratch_unless_tmp_is_per_job() {
        let plan = MountPlan::for_each_step(&PlanInput::default(), &merged_usr_host);
        assert_eq!(
            plan.ops,
            [
                MountOp::Proc {
                    target: PathBuf::from("/proc")
                },
                MountOp::Tmpfs {
                    target: PathBuf::from("/tmp"),
                    options: "mode=1777".to_owned()
                },
                MountOp::Tmpfs {
                    target: PathBuf::from("/dev/shm"),
                    options: "mode=1777".to_owned()
                },
            ]
        );
        let per_job = PlanInput {
            tmp_dir: Some(PathBuf::from("/work")),
            writable: vec![PathBuf::from("/tmp/ws")],
            ..PlanInput::default()
        };
        let plan = MountPlan::for_each_step(&per_job, &merged_usr_host);
        assert_eq!(plan.ops.len(), 1);
        assert!(plan.sources.is_empty());
    }

    #[test]
    fn steps_bind_configured_paths_below_tmp_again_over_their_fresh_tmp() {
        let input = PlanInput {
            writable: vec![PathBuf::from("/tmp/ws"), PathBuf::from("/work/ws")],
            read_only: vec![PathBuf::from("/tmp/tools")],
            ..PlanInput::default()
        };
        let plan = MountPlan::for_each_step(&input, &merged_usr_host);
        let tmp = plan.ops.iter().position(
            |o| matches!(o, MountOp::Tmpfs { target, .. } if target == Path::new("/tmp")),
        );
        let b = binds(&plan);
        assert_eq!(
            b,
            [
                ("/tmp/tools".into(), "/tmp/tools".into(), true),
                ("/tmp/ws".into(), "/tmp/ws".into(), false),
            ]
        );
        let first_bind = plan
            .ops
            .iter()
            .position(|o| matches!(o, MountOp::Bind { .. }));
        assert!(matches!((tmp, first_bind), (Some(t), Some(b)) if t < b));
    }

    #[test]
    fn creates_ancestors_and_file_mount_points() {
        let input = PlanInput {
            read_only: vec![PathBuf::from("/work/tool.json")],
            ..PlanInput::default()
        };
        let plan = MountPlan::build(&input, &merged_usr_host);
        let i = plan.ops.iter().position(|o| {
            o == &MountOp::Mkdir {
                path: PathBuf::from("/work"),
                mode: 0o755,
            }
        });
        let j = plan.ops.iter().position(|o| {
            o == &MountOp::Touch {
                path: PathBuf::from("/work/tool.json"),
            }
        });
        assert!(matches!((i, j), (Some(i), Some(j)) if i < j));
    }
}
