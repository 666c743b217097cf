//! The guest's root file system tree: bootstrapped by mmdebstrap (root mode, directory output)
//! from the recipe's Debian sources, then made into what the guest needs and what a second build
//! reproduces byte for byte.
//!
//! What mmdebstrap does for reproducibility with `SOURCE_DATE_EPOCH` set: removes dpkg's and
//! apt's logs, the ldconfig aux cache, `/var/lib/dbus/machine-id`, and apt's lists and caches.
//! What it leaves and we fix:
//!
//! - `/etc/hostname` and `/etc/resolv.conf` are copies of the build host's: replaced by fixed
//!   content (the agent sets the hostname and resolver at boot);
//! - `/etc/apt/sources.list` has the host's spelling of the sources (a keyring path): rewritten
//!   from the recipe;
//! - apt's `partial` download directories are owned by `_apt` when the `_apt` user could reach
//!   the build directory and by root when it could not (a store under root's 0700 home): both
//!   are set to `_apt`, mode 0700, as apt itself leaves them;
//! - Python's byte-code caches, compiled by the packages' postinst, record their source's
//!   modification time, which the packing replaces with `SOURCE_DATE_EPOCH`; they would be
//!   stale in the guest, so every existing `.pyc` is recompiled in the chroot with
//!   `--invalidation-mode unchecked-hash` (valid whatever the time stamps, same bytes each time).
//!
//! Time stamps themselves are normalised when the tree is packed ([`crate::ext4`]).
//! The kernel package is downloaded by a customize hook with mmdebstrap's own apt
//! configuration, so it comes from the same package index as the rest of the tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ImageError;
use crate::node::{self, NodeInstall};
use crate::packages::{self, DebPackage};
use crate::recipe::Recipe;
use crate::tool;
use crate::tree::{self, Kind};

/// Run inside mmdebstrap's customize phase (with `$1` the chroot): downloads the versioned
/// kernel package the meta-package depends on, using the chroot's package index.
const KERNEL_HOOK: &str = r#"#!/bin/sh
# Written by hrun image build: fetch the guest kernel from the index the rootfs came from.
set -eu
APT_CONFIG="$MMDEBSTRAP_APT_CONFIG"
export APT_CONFIG
cd "$HRUN_KERNEL_DIR"
apt-cache show --no-all-versions "$HRUN_KERNEL_PACKAGE" > meta.txt
package=$(sed -n 's/^Depends: *\([^ ,(]*\).*/\1/p' meta.txt | head -n 1)
if [ -z "$package" ]; then
  echo "hrun: $HRUN_KERNEL_PACKAGE depends on no package" >&2
  exit 1
fi
apt-get -o APT::Sandbox::User=root download "$package"
"#;

/// The mmdebstrap command for `recipe`, building into `target` and downloading the kernel
/// package into `kernel_dir` through the hook script at `hook`.
pub fn mmdebstrap_command(
    recipe: &Recipe,
    target: &Path,
    kernel_dir: &Path,
    hook: &Path,
) -> Result<Command, ImageError> {
    let mut cmd = tool::MMDEBSTRAP.command()?;
    cmd.env("SOURCE_DATE_EPOCH", recipe.source_date_epoch.to_string())
        .env("HRUN_KERNEL_DIR", kernel_dir)
        .env("HRUN_KERNEL_PACKAGE", &recipe.kernel_package)
        .args(["--mode=root", "--format=directory"])
        .arg(format!("--variant={}", recipe.variant))
        .arg(format!("--include={}", recipe.packages.join(",")))
        .arg("--aptopt=Acquire::Languages \"none\"");
    for option in &recipe.dpkg_options {
        cmd.arg(format!("--dpkgopt={option}"));
    }
    cmd.arg(format!("--customize-hook={}", hook.display()))
        .arg(&recipe.suite)
        .arg(target);
    for source in &recipe.sources {
        cmd.arg(source.mmdebstrap_line());
    }
    Ok(cmd)
}

/// Bootstraps the tree at `target` (which must not exist yet) and downloads the kernel package
/// into `kernel_dir`; mmdebstrap's progress lines go to `on_line`.
pub fn bootstrap(
    recipe: &Recipe,
    target: &Path,
    kernel_dir: &Path,
    work: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<(), ImageError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(ImageError::NeedsRoot);
    }
    std::fs::create_dir_all(kernel_dir).map_err(ImageError::io("create", kernel_dir))?;
    let hook = work.join("kernel-hook.sh");
    std::fs::write(&hook, KERNEL_HOOK).map_err(ImageError::io("write", &hook))?;
    set_mode(&hook, 0o755)?;
    let cmd = mmdebstrap_command(recipe, target, kernel_dir, &hook)?;
    tool::run_streaming(cmd, on_line)?;
    Ok(())
}

/// What the customisation put into the tree.
#[derive(Debug, Clone)]
pub struct Customised {
    pub packages: Vec<DebPackage>,
    pub node: NodeInstall,
}

/// Makes the bootstrapped tree at `root` the guest's (see the module doc): fixed host files,
/// the job user, node, recompiled Python caches; returns the installed packages.
pub fn customise(
    recipe: &Recipe,
    root: &Path,
    node_tarball: &[u8],
) -> Result<Customised, ImageError> {
    write(root, "etc/hostname", "hrun\n")?;
    write(root, "etc/resolv.conf", "")?;
    let sources: String = recipe
        .sources
        .iter()
        .map(|s| format!("{}\n", s.sources_list_line()))
        .collect();
    write(root, "etc/apt/sources.list", &sources)?;
    fix_apt_partial_dirs(root)?;
    add_job_user(recipe, root)?;
    let node = node::install(&recipe.node, node_tarball, root)?;
    recompile_python_caches(root, recipe.source_date_epoch)?;
    let status_path = root.join("var/lib/dpkg/status");
    let status =
        std::fs::read_to_string(&status_path).map_err(ImageError::io("read", &status_path))?;
    Ok(Customised {
        packages: packages::installed(&status),
        node,
    })
}

fn write(root: &Path, rel: &str, text: &str) -> Result<(), ImageError> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(ImageError::io("create", parent))?;
    }
    // Replace rather than write through: the tree's file might be a symlink out of it.
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, text).map_err(ImageError::io("write", &path))?;
    set_mode(&path, 0o644)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ImageError::io("set the mode of", path))
}

/// apt's download directories, owned by `_apt` (its uid from the tree's `/etc/passwd`) with
/// mode 0700 whatever the build path allowed (see the module doc).
fn fix_apt_partial_dirs(root: &Path) -> Result<(), ImageError> {
    let passwd = root.join("etc/passwd");
    let text = std::fs::read_to_string(&passwd).map_err(ImageError::io("read", &passwd))?;
    let Some(uid) = text.lines().find_map(|l| {
        let mut fields = l.split(':');
        (fields.next() == Some("_apt"))
            .then(|| fields.nth(1)?.parse::<u32>().ok())
            .flatten()
    }) else {
        return Ok(());
    };
    for rel in [
        "var/cache/apt/archives/partial",
        "var/lib/apt/lists/partial",
    ] {
        let dir = root.join(rel);
        if dir.is_dir() {
            std::os::unix::fs::lchown(&dir, Some(uid), Some(0))
                .map_err(ImageError::io("change the owner of", &dir))?;
            set_mode(&dir, 0o700)?;
        }
    }
    Ok(())
}

/// Adds the job user and group (to `/etc/passwd`, `/etc/group`, and the shadow files when the
/// tree has them) and its home directory with the skeleton files, owned by it.
fn add_job_user(recipe: &Recipe, root: &Path) -> Result<(), ImageError> {
    let user = &recipe.job_user;
    let passwd = root.join("etc/passwd");
    let existing = std::fs::read_to_string(&passwd).map_err(ImageError::io("read", &passwd))?;
    let taken = existing.lines().any(|l| {
        let mut fields = l.split(':');
        let name = fields.next();
        let uid = fields.nth(1);
        name == Some(user.name.as_str()) || uid == Some(user.uid.to_string().as_str())
    });
    if taken {
        return Err(ImageError::Rootfs(format!(
            "/etc/passwd already has a user named {} or with uid {}",
            user.name, user.uid
        )));
    }
    // Without shadow files (the essential variant has none) the password field locks the
    // account itself, as base-passwd's users are locked.
    let password = if root.join("etc/shadow").exists() {
        "x"
    } else {
        "*"
    };
    let lines = [
        (
            "etc/passwd",
            format!(
                "{}:{password}:{}:{}::{}:/bin/bash\n",
                user.name, user.uid, user.gid, user.home
            ),
        ),
        (
            "etc/group",
            format!("{}:{password}:{}:\n", user.name, user.gid),
        ),
        (
            "etc/shadow",
            format!(
                "{}:*:{}:0:99999:7:::\n",
                user.name,
                recipe.source_date_epoch / 86_400
            ),
        ),
        ("etc/gshadow", format!("{}:!::\n", user.name)),
    ];
    for (rel, line) in lines {
        let path = root.join(rel);
        if rel.contains("shadow") && !path.exists() {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).map_err(ImageError::io("read", &path))?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        std::fs::write(&path, text).map_err(ImageError::io("write", &path))?;
    }
    let home = root.join(user.home.trim_start_matches('/'));
    std::fs::create_dir_all(&home).map_err(ImageError::io("create", &home))?;
    let skel = root.join("etc/skel");
    let mut owned: Vec<PathBuf> = vec![home.clone()];
    if let Ok(entries) = std::fs::read_dir(&skel) {
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let Some(name) = file.file_name() else {
                continue;
            };
            let dest = home.join(name);
            std::fs::copy(&file, &dest).map_err(ImageError::io("copy", &file))?;
            owned.push(dest);
        }
    }
    for path in owned {
        std::os::unix::fs::lchown(&path, Some(user.uid), Some(user.gid))
            .map_err(ImageError::io("change the owner of", &path))?;
    }
    set_mode(&home, 0o755)
}

/// The source file of each `__pycache__/<module>.<tag>.pyc` under `root`, as paths in the tree.
fn python_sources(root: &Path) -> Result<Vec<String>, ImageError> {
    let mut sources = Vec::new();
    for entry in tree::walk(root)? {
        if entry.kind != Kind::File || !entry.name.ends_with(".pyc") {
            continue;
        }
        let Some((cache_dir, file)) = entry.name.rsplit_once('/') else {
            continue;
        };
        let Some(dir) = cache_dir.strip_suffix("/__pycache__") else {
            continue;
        };
        let Some((module, _)) = file.split_once('.') else {
            continue;
        };
        let source = format!("{dir}/{module}.py");
        if root.join(source.trim_start_matches('/')).is_file() {
            sources.push(source);
        }
    }
    Ok(sources)
}

/// Recompiles every existing byte-code cache as unchecked-hash (see the module doc), with the
/// tree's own python3 in a chroot.
fn recompile_python_caches(root: &Path, epoch: u64) -> Result<(), ImageError> {
    let sources = python_sources(root)?;
    if sources.is_empty() {
        return Ok(());
    }
    let list_name = "tmp/hrun-pyc-sources";
    let list = root.join(list_name);
    std::fs::write(&list, sources.join("\n") + "\n").map_err(ImageError::io("write", &list))?;
    let result = tool::output(
        tool::CHROOT
            .command()?
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C.UTF-8")
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .env("PYTHONHASHSEED", "0")
            .arg(root)
            .args(["/usr/bin/python3", "-m", "compileall", "-q", "-f"])
            .args(["--invalidation-mode", "unchecked-hash", "-i"])
            .arg(format!("/{list_name}")),
    );
    std::fs::remove_file(&list).map_err(ImageError::io("remove", &list))?;
    result?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt_sources::default_sources;

    #[test]
    fn mmdebstrap_gets_the_recipe_and_the_kernel_hook() {
        let recipe = Recipe::bookworm(default_sources("bookworm"), 1_735_689_600);
        let Ok(cmd) = mmdebstrap_command(
            &recipe,
            Path::new("/w/root"),
            Path::new("/w/kernel"),
            Path::new("/w/hook.sh"),
        ) else {
            println!("SKIP mmdebstrap_gets_the_recipe_and_the_kernel_hook: no mmdebstrap");
            return;
        };
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--mode=root".to_owned()));
        assert!(args.contains(&"--variant=essential".to_owned()));
        assert!(args
            .iter()
            .any(|a| a.starts_with("--include=") && a.contains("python3")));
        assert!(args.contains(&"--dpkgopt=path-exclude=/usr/share/man/*".to_owned()));
        assert!(args.contains(&"--customize-hook=/w/hook.sh".to_owned()));
        let tail = &args[args.len() - 5..];
        assert_eq!(tail[0], "bookworm");
        assert_eq!(tail[1], "/w/root");
        assert_eq!(
            tail[4],
            "deb http://deb.debian.org/debian-security bookworm-security main"
        );
        let env: Vec<_> = cmd.get_envs().collect();
        assert!(env
            .iter()
            .any(|(k, v)| *k == "SOURCE_DATE_EPOCH"
                && *v == Some(std::ffi::OsStr::new("1735689600"))));
    }

    #[test]
    fn finds_the_source_of_each_python_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let lib = root.join("usr/lib/python3.11");
        std::fs::create_dir_all(lib.join("__pycache__")).unwrap();
        std::fs::write(lib.join("os.py"), "").unwrap();
        std::fs::write(lib.join("__pycache__/os.cpython-311.pyc"), "").unwrap();
        std::fs::write(lib.join("__pycache__/gone.cpython-311.pyc"), "").unwrap();
        assert_eq!(python_sources(root).unwrap(), ["/usr/lib/python3.11/os.py"]);
    }

    #[test]
    fn apt_partial_dirs_belong_to_apt_whatever_the_build_path_allowed() {
        if !nix::unistd::geteuid().is_root() {
            println!("SKIP apt_partial_dirs_belong_to_apt_whatever_the_build_path_allowed: chown needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let partial = root.join("var/lib/apt/lists/partial");
        std::fs::create_dir_all(&partial).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:*:0:0:root:/root:/bin/bash\n_apt:*:42:65534::/nonexistent:/usr/sbin/nologin\n",
        )
        .unwrap();
        fix_apt_partial_dirs(root).unwrap();
        use std::os::unix::fs::MetadataExt;
        let meta = partial.metadata().unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (42, 0, 0o700)
        );
    }

    #[test]
    fn adds_the_job_user_after_the_system_users() {
        if !nix::unistd::geteuid().is_root() {
            println!("SKIP adds_the_job_user_after_the_system_users: chown needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/skel")).unwrap();
        std::fs::write(root.join("etc/passwd"), "root:*:0:0:root:/root:/bin/bash\n").unwrap();
        std::fs::write(root.join("etc/group"), "root:*:0:").unwrap();
        std::fs::write(root.join("etc/skel/.bashrc"), "# bashrc\n").unwrap();
        let recipe = Recipe::bookworm(default_sources("bookworm"), 86_400 * 3);
        add_job_user(&recipe, root).unwrap();
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(
            passwd.ends_with("runner:*:1001:1001::/home/runner:/bin/bash\n"),
            "{passwd}"
        );
        let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
        assert_eq!(group, "root:*:0:\nrunner:*:1001:\n");
        use std::os::unix::fs::MetadataExt;
        let bashrc = root.join("home/runner/.bashrc").metadata().unwrap();
        assert_eq!((bashrc.uid(), bashrc.gid()), (1001, 1001));
        assert!(
            add_job_user(&recipe, root).is_err(),
            "a second runner is refused"
        );
    }
}
