//! [`ActionStoreError`]: everything that can go wrong filling the store or finding an action in
//! it, each variant saying what to do about it.

use std::path::PathBuf;

use actions_compat::diagnostic::LoadError;

use super::digest::TreeDigestError;
use super::fetch::FetchError;
use super::import::ImportError;
use super::pin::PinError;
use super::unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum ActionStoreError {
    #[error(
        "neither HRUN_CACHE nor HOME is set, so there is no cache directory for the action store"
    )]
    NoCacheDir,
    #[error(transparent)]
    Pin(#[from] PinError),
    /// A remote action that was never fetched. `command` fetches it.
    #[error(
        "action `{uses}` is not in the action store ({}): fetch it with `{command}` (on a host \
         without network, copy the repository over and run `hrun actions import DIR {pin}`)",
        store.display()
    )]
    NotInStore {
        uses: String,
        pin: String,
        store: PathBuf,
        command: String,
    },
    /// An entry that is incomplete or no longer what was fetched.
    #[error(
        "the action store entry for {pin} at {} is corrupt: {problem}; `hrun actions pull {pin}` \
         (or `hrun actions import`) replaces it",
        dir.display()
    )]
    Corrupt {
        pin: String,
        dir: PathBuf,
        problem: String,
    },
    #[error("cannot download {pin}")]
    Fetch {
        pin: String,
        source: Box<FetchError>,
    },
    #[error("cannot unpack the tarball of {pin}")]
    Unpack {
        pin: String,
        source: Box<UnpackError>,
    },
    #[error("cannot import {} as {pin}", dir.display())]
    Import {
        dir: PathBuf,
        pin: String,
        source: Box<ImportError>,
    },
    #[error("cannot compute the digest of {}", dir.display())]
    Digest {
        dir: PathBuf,
        source: Box<TreeDigestError>,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{uses}`: a local action's path may not contain `..`")]
    ParentInPath { uses: String },
    #[error("`{uses}` leads to {}, outside {}", dir.display(), base.display())]
    Escapes {
        uses: String,
        dir: PathBuf,
        base: PathBuf,
    },
    #[error("`{uses}`: there is no directory {}", dir.display())]
    NoDirectory { uses: String, dir: PathBuf },
    #[error("`{uses}`: there is no action.yml or action.yaml in {}", dir.display())]
    NoActionFile { uses: String, dir: PathBuf },
    #[error(
        "`{uses}`: {} holds only a Dockerfile; container actions are not supported yet",
        dir.display()
    )]
    DockerfileOnly { uses: String, dir: PathBuf },
    #[error("`{uses}` runs the container image `{image}`; container steps are not supported yet")]
    ContainerImage { uses: String, image: String },
    /// The action file is unreadable or invalid; `problem` holds every diagnostic with its
    /// position.
    #[error("`{uses}`: {problem}")]
    InvalidAction {
        uses: String,
        problem: Box<LoadError>,
    },
}
