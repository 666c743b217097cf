//! The action store: remote actions pinned to a commit, fetched once (through the GitHub API,
//! or imported from a local copy), kept under the cache directory with a record of where they
//! came from and their SHA-256, and resolved for the job engine without touching the network.
//!
//! ```ignore
//! # fn demo(workspace: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use actions_compat::workflow::UsesRef;
//! use crate::actions::ActionStore;
//! let store = ActionStore::from_env()?;
//! let uses = UsesRef::parse("actions/checkout@b4ffde65f46336ab88eb53be808477a3936bae11")?;
//! let resolved = store.resolve(&uses, workspace)?; // names `hrun actions pull ...` if missing
//! println!("{} from {}", resolved.action.runs.using.value, resolved.dir.display());
//! # Ok(()) }
//! ```
//!
//! Modules: `pin` (the store's key), `fetch` (the download, through the API or from the URL a
//! job's action download info names), `unpack` (the hostile-tarball reader), `import` (local
//! copies), `tree_path` (the path and link rules both obey), `digest` (SHA-256 and the tree
//! digest), `record` (`hrun-action.json`), `store` (layout, atomic installs, checks, listing),
//! `resolve` (for the engine), `error`.
//!
//! This module must never run anything from an action, and never reach the network outside
//! [`ActionStore::pull`] and [`ActionStore::pull_from`].

mod digest;
mod error;
mod fetch;
mod import;
mod pin;
mod record;
mod resolve;
mod store;
mod tree_path;
mod unpack;

// The API of the store for the job engine and `hrun actions`; not all of it is used yet.
#[allow(unused_imports)]
pub use {
    digest::{tree_digest, Sha256Hex, TreeDigestError},
    error::ActionStoreError,
    fetch::{FetchError, GitHubApi, TarballSource, DEFAULT_API_URL},
    import::ImportError,
    pin::{PinError, PinnedRepo},
    record::{ActionRecord, ActionSource, RECORD_FILE},
    resolve::{ActionOrigin, ResolvedAction},
    store::{ActionStore, AddOutcome, ListedEntry, StoreEntry, TREE_DIR},
    tree_path::{PathError, PlaceError},
    unpack::{UnpackError, UnpackLimits, Unpacked},
};
