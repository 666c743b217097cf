//! [`ActionStore`]: the directory of fetched actions under the cache directory, how entries get
//! in (pull, import), how they are found and checked, and how they are listed.
//!
//! Layout, under `$HRUN_CACHE` (default `$HOME/.cache/hrun`):
//!
//! ```text
//! actions/
//!   .tmp/                          staging, same file system as the entries
//!   <owner>/<repo>/<40-hex sha>/   owner and repo in lowercase, as GitHub compares them
//!     hrun-action.json             the record (see `record`)
//!     tree/                        the repository's files at that commit
//! ```
//!
//! The tree sits in its own directory so no file of the repository can collide with the record.
//! An entry is built whole in `.tmp/` and renamed into place, so it appears complete or not at
//! all; when two pulls of the same commit race, the first rename wins and the second finds the
//! entry there and keeps it. An entry that is incomplete, or whose tree no longer matches the
//! digest in its record, is reported as corrupt and replaced by the next pull or import.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::digest::{tree_digest, Sha256Hex};
use super::error::ActionStoreError;
use super::fetch::{self, GitHubApi, TarballSource};
use super::import::copy_tree;
use super::pin::PinnedRepo;
use super::record::{rfc3339_utc, ActionRecord, ActionSource, RECORD_FILE, RECORD_SCHEMA};
use super::unpack::{unpack_tar_gz, UnpackLimits};

/// The directory of an entry's files, beside its record.
pub const TREE_DIR: &str = "tree";

const STAGING_DIR: &str = ".tmp";

/// The action store rooted at a cache directory.
#[derive(Debug, Clone)]
pub struct ActionStore {
    cache_dir: PathBuf,
    limits: UnpackLimits,
}

/// One entry of the store whose record was read and matches its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEntry {
    /// As recorded: owner and repository spelled as when the entry was added.
    pub pin: PinnedRepo,
    /// The entry's directory (holding the record and `tree/`).
    pub dir: PathBuf,
    pub record: ActionRecord,
}

impl StoreEntry {
    /// The repository's files.
    pub fn tree(&self) -> PathBuf {
        self.dir.join(TREE_DIR)
    }
}

/// What a pull or an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    Added(StoreEntry),
    /// The entry was there and sound already (perhaps added by a concurrent pull); nothing was
    /// fetched or changed.
    AlreadyPresent(StoreEntry),
    /// A corrupt entry (the reason given) was replaced.
    Replaced {
        entry: StoreEntry,
        problem: String,
    },
}

impl AddOutcome {
    pub fn entry(&self) -> &StoreEntry {
        match self {
            AddOutcome::Added(entry)
            | AddOutcome::AlreadyPresent(entry)
            | AddOutcome::Replaced { entry, .. } => entry,
        }
    }
}

/// One directory found by [`ActionStore::list`]: a sound entry, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub dir: PathBuf,
    pub status: Result<StoreEntry, String>,
}

impl ActionStore {
    /// The store under `cache_dir` (its `actions/` directory is created when first needed).
    pub fn new(cache_dir: impl Into<PathBuf>) -> ActionStore {
        ActionStore {
            cache_dir: cache_dir.into(),
            limits: UnpackLimits::default(),
        }
    }

    /// The store under `$HRUN_CACHE`, or `$HOME/.cache/hrun`.
    pub fn from_env() -> Result<ActionStore, ActionStoreError> {
        let dir = crate::cache::cache_dir().ok_or(ActionStoreError::NoCacheDir)?;
        Ok(ActionStore::new(dir))
    }

    /// `<cache>/actions`.
    pub fn actions_dir(&self) -> PathBuf {
        self.cache_dir.join("actions")
    }

    /// Where the entry of `pin` lives (whether or not it exists).
    pub fn entry_dir(&self, pin: &PinnedRepo) -> PathBuf {
        self.actions_dir()
            .join(pin.owner().to_ascii_lowercase())
            .join(pin.repo().to_ascii_lowercase())
            .join(pin.sha())
    }

    /// The entry of `pin`, if there is one. Checks that it is complete and its record matches
    /// its place; does not re-hash the tree (see [`ActionStore::verify`]).
    pub fn get(&self, pin: &PinnedRepo) -> Result<Option<StoreEntry>, ActionStoreError> {
        let dir = self.entry_dir(pin);
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ActionStoreError::Io {
                    action: "read",
                    path: dir,
                    source,
                })
            }
            Ok(meta) if !meta.is_dir() => return Err(corrupt(pin, &dir, "it is not a directory")),
            Ok(_) => {}
        }
        let record_path = dir.join(RECORD_FILE);
        let text = match std::fs::read_to_string(&record_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(corrupt(pin, &dir, &format!("{RECORD_FILE} is missing")))
            }
            Err(e) => {
                return Err(corrupt(
                    pin,
                    &dir,
                    &format!("cannot read {RECORD_FILE}: {e}"),
                ))
            }
        };
        let record: ActionRecord = serde_json::from_str(&text).map_err(|e| {
            corrupt(
                pin,
                &dir,
                &format!("{RECORD_FILE} is not a valid record: {e}"),
            )
        })?;
        if record.schema != RECORD_SCHEMA {
            let problem = format!(
                "{RECORD_FILE} has schema {}, not {RECORD_SCHEMA}",
                record.schema
            );
            return Err(corrupt(pin, &dir, &problem));
        }
        // The entry keeps the names as first fetched; any spelling finds it.
        let stored = match record.pin() {
            Some(stored) if stored.same_as(pin) => stored,
            _ => {
                let problem = format!(
                    "{RECORD_FILE} describes {}/{}@{}",
                    record.owner, record.repo, record.sha
                );
                return Err(corrupt(pin, &dir, &problem));
            }
        };
        match std::fs::symlink_metadata(dir.join(TREE_DIR)) {
            Ok(meta) if meta.is_dir() => {}
            _ => return Err(corrupt(pin, &dir, "its tree/ directory is missing")),
        }
        Ok(Some(StoreEntry {
            pin: stored,
            dir,
            record,
        }))
    }

    /// Re-hashes the entry's tree and compares it with its record.
    pub fn verify(&self, entry: &StoreEntry) -> Result<(), ActionStoreError> {
        let actual = tree_digest(&entry.tree(), self.limits.max_entries)
            .map_err(|e| corrupt(&entry.pin, &entry.dir, &format!("{e}")))?;
        if actual != entry.record.tree_sha256 {
            let problem = format!(
                "its tree has digest {actual}, not the recorded {}",
                entry.record.tree_sha256
            );
            return Err(corrupt(&entry.pin, &entry.dir, &problem));
        }
        Ok(())
    }

    /// [`ActionStore::get`] and [`ActionStore::verify`].
    pub fn get_verified(&self, pin: &PinnedRepo) -> Result<Option<StoreEntry>, ActionStoreError> {
        let Some(entry) = self.get(pin)? else {
            return Ok(None);
        };
        self.verify(&entry)?;
        Ok(Some(entry))
    }

    /// Downloads `pin` through the GitHub API into the store, unless a sound entry is there.
    pub async fn pull(
        &self,
        pin: &PinnedRepo,
        api: &GitHubApi,
    ) -> Result<AddOutcome, ActionStoreError> {
        let source = TarballSource::api(api, pin).map_err(|source| ActionStoreError::Fetch {
            pin: pin.to_string(),
            source: Box::new(source),
        })?;
        self.pull_from(pin, &source).await
    }

    /// Downloads the tarball of `pin` from `source` into the store, unless a sound entry is
    /// there. The tarball must be of that commit (see [`super::unpack`]).
    pub async fn pull_from(
        &self,
        pin: &PinnedRepo,
        source: &TarballSource,
    ) -> Result<AddOutcome, ActionStoreError> {
        let replacing = match self.existing(pin)? {
            Existing::Sound(entry) => return Ok(AddOutcome::AlreadyPresent(*entry)),
            Existing::Absent => None,
            Existing::Corrupt(problem) => Some(problem),
        };
        let staging = self.staging("pull-")?;
        let tarball = staging.path().join("tarball.tar.gz");
        let downloaded = fetch::download_from(source, pin, &tarball, fetch::MAX_DOWNLOAD_BYTES)
            .await
            .map_err(|source| ActionStoreError::Fetch {
                pin: pin.to_string(),
                source: Box::new(source),
            })?;
        let store = self.clone();
        let target = self.entry_dir(pin);
        let pin = pin.clone();
        // Unpacking and hashing are blocking file work.
        let finish = tokio::task::spawn_blocking(move || {
            let tree = staged_tree(&staging)?;
            let file = std::fs::File::open(&tarball).map_err(|source| ActionStoreError::Io {
                action: "open",
                path: tarball.clone(),
                source,
            })?;
            let reader = std::io::BufReader::new(file);
            unpack_tar_gz(reader, &tree, Some(pin.sha()), &store.limits).map_err(|source| {
                ActionStoreError::Unpack {
                    pin: pin.to_string(),
                    source: Box::new(source),
                }
            })?;
            std::fs::remove_file(&tarball).map_err(|source| ActionStoreError::Io {
                action: "remove",
                path: tarball.clone(),
                source,
            })?;
            store.finish(
                staging,
                &pin,
                ActionSource::Api,
                downloaded.sha256,
                downloaded.url,
                replacing,
            )
        });
        finish.await.map_err(|e| ActionStoreError::Io {
            action: "finish adding",
            path: target,
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// Copies the directory `from` into the store as `pin`, unless a sound entry is there.
    pub fn import(&self, from: &Path, pin: &PinnedRepo) -> Result<AddOutcome, ActionStoreError> {
        let replacing = match self.existing(pin)? {
            Existing::Sound(entry) => return Ok(AddOutcome::AlreadyPresent(*entry)),
            Existing::Absent => None,
            Existing::Corrupt(problem) => Some(problem),
        };
        let staging = self.staging("import-")?;
        let tree = staged_tree(&staging)?;
        copy_tree(from, &tree, &self.limits).map_err(|source| ActionStoreError::Import {
            dir: from.to_path_buf(),
            pin: pin.to_string(),
            source: Box::new(source),
        })?;
        let digest = tree_digest(&tree, self.limits.max_entries).map_err(|source| {
            ActionStoreError::Digest {
                dir: tree.clone(),
                source: Box::new(source),
            }
        })?;
        let origin = std::path::absolute(from).unwrap_or_else(|_| from.to_path_buf());
        self.finish(
            staging,
            pin,
            ActionSource::Import,
            digest,
            origin.display().to_string(),
            replacing,
        )
    }

    /// Every directory in the store, sorted; with `verify`, trees are re-hashed too.
    pub fn list(&self, verify: bool) -> Result<Vec<ListedEntry>, ActionStoreError> {
        let mut listed = Vec::new();
        for owner in listing(&self.actions_dir(), true)? {
            for repo in listing(&owner, true)? {
                for sha in listing(&repo, false)? {
                    let name = |p: &Path| {
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    };
                    let status = match PinnedRepo::new(&name(&owner), &name(&repo), &name(&sha)) {
                        Ok(pin) if self.entry_dir(&pin) == sha => {
                            let found = if verify {
                                self.get_verified(&pin)
                            } else {
                                self.get(&pin)
                            };
                            match found {
                                Ok(Some(entry)) => Ok(entry),
                                Ok(None) => Err("it vanished while listing".to_string()),
                                Err(ActionStoreError::Corrupt { problem, .. }) => Err(problem),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        _ => {
                            Err("not a store entry (expected owner/repo/<40-hex sha>)".to_string())
                        }
                    };
                    listed.push(ListedEntry { dir: sha, status });
                }
            }
        }
        Ok(listed)
    }

    fn existing(&self, pin: &PinnedRepo) -> Result<Existing, ActionStoreError> {
        match self.get_verified(pin) {
            Ok(Some(entry)) => Ok(Existing::Sound(Box::new(entry))),
            Ok(None) => Ok(Existing::Absent),
            Err(ActionStoreError::Corrupt { problem, .. }) => Ok(Existing::Corrupt(problem)),
            Err(e) => Err(e),
        }
    }

    /// A fresh staging directory in the store's file system, removed when dropped. Staging left
    /// by a process that was killed is removed once it is a day old (no pull lasts that long).
    fn staging(&self, prefix: &str) -> Result<tempfile::TempDir, ActionStoreError> {
        let dir = self.actions_dir().join(STAGING_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| ActionStoreError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        remove_stale_staging(&dir);
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&dir)
            .map_err(|source| ActionStoreError::Io {
                action: "create a staging directory in",
                path: dir,
                source,
            })
    }

    /// Writes the record of a staged tree and renames the staged entry into place.
    fn finish(
        &self,
        staging: tempfile::TempDir,
        pin: &PinnedRepo,
        source: ActionSource,
        sha256: Sha256Hex,
        origin: String,
        replacing: Option<String>,
    ) -> Result<AddOutcome, ActionStoreError> {
        let staged = staging.path().join("entry");
        let tree = staged.join(TREE_DIR);
        let tree_sha256 = match source {
            ActionSource::Import => sha256.clone(),
            ActionSource::Api => tree_digest(&tree, self.limits.max_entries).map_err(|source| {
                ActionStoreError::Digest {
                    dir: tree.clone(),
                    source: Box::new(source),
                }
            })?,
        };
        let record = ActionRecord {
            schema: RECORD_SCHEMA,
            owner: pin.owner().to_string(),
            repo: pin.repo().to_string(),
            sha: pin.sha().to_string(),
            source,
            sha256,
            tree_sha256,
            fetched_at: rfc3339_utc(SystemTime::now()),
            origin,
        };
        write_record(&staged.join(RECORD_FILE), &record)?;
        self.install(&staging, &staged, pin, replacing)
    }

    fn install(
        &self,
        staging: &tempfile::TempDir,
        staged: &Path,
        pin: &PinnedRepo,
        replacing: Option<String>,
    ) -> Result<AddOutcome, ActionStoreError> {
        let target = self.entry_dir(pin);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ActionStoreError::Io {
                action: "create",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        if replacing.is_some() {
            // Move the corrupt entry into staging, which is removed when dropped.
            match std::fs::rename(&target, staging.path().join("corrupt")) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ActionStoreError::Io {
                        action: "move aside the corrupt entry",
                        path: target,
                        source,
                    })
                }
            }
        }
        match std::fs::rename(staged, &target) {
            Ok(()) => {
                let entry = self
                    .get(pin)?
                    .ok_or_else(|| corrupt(pin, &target, "it vanished"))?;
                Ok(match replacing {
                    Some(problem) => AddOutcome::Replaced { entry, problem },
                    None => AddOutcome::Added(entry),
                })
            }
            // Another pull or import of the same commit got there first; keep its entry.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                ) =>
            {
                match self.get(pin)? {
                    Some(entry) => Ok(AddOutcome::AlreadyPresent(entry)),
                    None => Err(ActionStoreError::Io {
                        action: "move the new entry to",
                        path: target,
                        source: e,
                    }),
                }
            }
            Err(source) => Err(ActionStoreError::Io {
                action: "move the new entry to",
                path: target,
                source,
            }),
        }
    }
}

enum Existing {
    Sound(Box<StoreEntry>),
    Absent,
    Corrupt(String),
}

fn corrupt(pin: &PinnedRepo, dir: &Path, problem: &str) -> ActionStoreError {
    ActionStoreError::Corrupt {
        pin: pin.to_string(),
        dir: dir.to_path_buf(),
        problem: problem.to_string(),
    }
}

/// Best effort: a leftover that cannot be removed now will be tried again next time.
fn remove_stale_staging(dir: &Path) {
    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > DAY);
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates `entry/tree/` in a staging directory.
fn staged_tree(staging: &tempfile::TempDir) -> Result<PathBuf, ActionStoreError> {
    let tree = staging.path().join("entry").join(TREE_DIR);
    std::fs::create_dir_all(&tree).map_err(|source| ActionStoreError::Io {
        action: "create",
        path: tree.clone(),
        source,
    })?;
    Ok(tree)
}

fn write_record(path: &Path, record: &ActionRecord) -> Result<(), ActionStoreError> {
    let io_error = |source| ActionStoreError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let mut text =
        serde_json::to_string_pretty(record).map_err(|e| io_error(std::io::Error::other(e)))?;
    text.push('\n');
    let mut file = std::fs::File::create(path).map_err(io_error)?;
    file.write_all(text.as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// What `dir` holds (nothing if it does not exist; with `only_dirs`, its directories), sorted,
/// skipping dot-names: owners and repositories never start with a dot, staging does.
fn listing(dir: &Path, only_dirs: bool) -> Result<Vec<PathBuf>, ActionStoreError> {
    let io_error = |source| ActionStoreError::Io {
        action: "read",
        path: dir.to_path_buf(),
        source,
    };
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e)),
    };
    let mut dirs = Vec::new();
    for entry in read {
        let entry = entry.map_err(io_error)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if only_dirs && !entry.file_type().map_err(io_error)?.is_dir() {
            continue;
        }
        dirs.push(entry.path());
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests;
