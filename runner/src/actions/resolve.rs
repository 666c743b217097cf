//! [`ActionStore::resolve`]: from a step's `uses:` to the directory of the action and its parsed
//! `action.yml`, for the job engine.
//!
//! Local actions (`./path`, and `$/path` for the repository root) come from the workspace and
//! must stay inside it, symbolic links included. Remote actions (`owner/repo[/path]@sha`) come
//! only from the store, pinned to a full commit SHA, and their tree is checked against its
//! recorded digest first; nothing here touches the network. A container image step
//! (`docker://`) resolves to an error the engine reports as not supported; a Docker *action*
//! (an `action.yml` with `runs.using: docker`) resolves like any other.

use std::path::{Path, PathBuf};

use actions_compat::action::{self, Action};
use actions_compat::workflow::UsesRef;

use super::error::ActionStoreError;
use super::pin::PinnedRepo;
use super::store::{ActionStore, StoreEntry};
use super::tree_path::{PathError, TreePath};

/// The action file names GitHub looks for, in its order.
const ACTION_FILES: [&str; 2] = ["action.yml", "action.yaml"];

/// An action found and parsed.
#[derive(Debug, Clone)]
pub struct ResolvedAction {
    /// The directory holding the action file (canonical).
    pub dir: PathBuf,
    /// `action.yml` or `action.yaml` in it.
    pub file: PathBuf,
    pub action: Action,
    pub origin: ActionOrigin,
}

/// Where a resolved action's code came from: for provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOrigin {
    /// `./path` or `$/path`: the repository being run, at the commit being run.
    Workspace,
    /// The store; the entry's record holds the commit and the digests.
    Store(Box<StoreEntry>),
}

impl ActionStore {
    /// Finds the action `uses` names; `workspace` is the checkout local paths are read from.
    pub fn resolve(
        &self,
        uses: &UsesRef,
        workspace: &Path,
    ) -> Result<ResolvedAction, ActionStoreError> {
        let shown = uses.to_string();
        match uses {
            UsesRef::Local(path) => {
                let relative = path
                    .strip_prefix("./")
                    .or_else(|| path.strip_prefix(".\\"))
                    .unwrap_or(path);
                let dir = inside(workspace, relative, &shown)?;
                load(dir, workspace, &shown, ActionOrigin::Workspace)
            }
            // `$/path` is the repository being run, at the commit being run: the workspace root.
            UsesRef::SameRepository(path) => {
                let dir = inside(workspace, path, &shown)?;
                load(dir, workspace, &shown, ActionOrigin::Workspace)
            }
            UsesRef::Repository(r) => {
                let pin = PinnedRepo::new(r.owner(), r.repo(), r.git_ref().as_str())?;
                let entry = self
                    .get(&pin)?
                    .ok_or_else(|| ActionStoreError::NotInStore {
                        uses: shown.clone(),
                        pin: pin.to_string(),
                        store: self.actions_dir(),
                        command: format!("hrun actions pull {pin}"),
                    })?;
                self.verify(&entry)?;
                let tree = entry.tree();
                let dir = inside(&tree, r.path().unwrap_or(""), &shown)?;
                load(dir, &tree, &shown, ActionOrigin::Store(Box::new(entry)))
            }
            UsesRef::Docker(image) => Err(ActionStoreError::ContainerImage {
                image: image.reference().to_string(),
                uses: shown,
            }),
        }
    }
}

/// The canonical directory `relative` names below `base`, which it may not leave.
fn inside(base: &Path, relative: &str, uses: &str) -> Result<PathBuf, ActionStoreError> {
    let normalized = relative.replace('\\', "/");
    let joined = match TreePath::parse(normalized.as_bytes()) {
        Ok(path) => path.under(base),
        Err(PathError::Empty) => base.to_path_buf(),
        Err(PathError::ParentComponent) => {
            return Err(ActionStoreError::ParentInPath {
                uses: uses.to_string(),
            })
        }
        Err(_) => {
            return Err(ActionStoreError::Escapes {
                uses: uses.to_string(),
                dir: PathBuf::from(relative),
                base: base.to_path_buf(),
            })
        }
    };
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ActionStoreError::Io {
            action: "resolve",
            path,
            source,
        }
    };
    let base = base.canonicalize().map_err(io_error(base))?;
    let dir = match joined.canonicalize() {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ActionStoreError::NoDirectory {
                uses: uses.to_string(),
                dir: joined,
            })
        }
        Err(e) => return Err(io_error(&joined)(e)),
    };
    if !dir.starts_with(&base) {
        return Err(ActionStoreError::Escapes {
            uses: uses.to_string(),
            dir,
            base,
        });
    }
    Ok(dir)
}

/// Parses the action file in `dir`; `base` is what a linked action file may not leave.
fn load(
    dir: PathBuf,
    base: &Path,
    uses: &str,
    origin: ActionOrigin,
) -> Result<ResolvedAction, ActionStoreError> {
    for name in ACTION_FILES {
        let file = dir.join(name);
        if std::fs::symlink_metadata(&file).is_err() {
            continue;
        }
        // A link named action.yml must not read a file outside the workspace or tree either.
        let real = file.canonicalize().map_err(|source| ActionStoreError::Io {
            action: "resolve",
            path: file.clone(),
            source,
        })?;
        let base = base.canonicalize().map_err(|source| ActionStoreError::Io {
            action: "resolve",
            path: base.to_path_buf(),
            source,
        })?;
        if !real.starts_with(&base) {
            return Err(ActionStoreError::Escapes {
                uses: uses.to_string(),
                dir: real,
                base,
            });
        }
        // A step may have left a FIFO or a device there: reading one would never return.
        if !std::fs::metadata(&real).is_ok_and(|m| m.is_file()) {
            return Err(ActionStoreError::Io {
                action: "resolve",
                path: real,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the action file is not a regular file",
                ),
            });
        }
        let action =
            action::parse_file(&real).map_err(|problem| ActionStoreError::InvalidAction {
                uses: uses.to_string(),
                problem: Box::new(problem),
            })?;
        return Ok(ResolvedAction {
            dir,
            file,
            action,
            origin,
        });
    }
    if dir.join("Dockerfile").is_file() {
        return Err(ActionStoreError::DockerfileOnly {
            uses: uses.to_string(),
            dir,
        });
    }
    Err(ActionStoreError::NoActionFile {
        uses: uses.to_string(),
        dir,
    })
}

#[cfg(test)]
mod tests;
