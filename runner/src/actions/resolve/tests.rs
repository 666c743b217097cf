//! Resolving `uses:` against a workspace and an imported store entry: local paths, store entries,
//! escapes, tampering, and the errors the engine reports.

use super::*;
use crate::actions::record::RECORD_FILE;

const SHA: &str = "b4ffde65f46336ab88eb53be808477a3936bae11";
const COMPOSITE: &str = "name: c\ndescription: c\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n";
const DOCKER: &str = "name: d\ndescription: d\nruns:\n  using: docker\n  image: Dockerfile\n";

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
}

fn uses(text: &str) -> UsesRef {
    UsesRef::parse(text).expect("uses")
}

struct Fixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    store: ActionStore,
    workspace: PathBuf,
}

fn fixture() -> Fixture {
    let cache = tempfile::tempdir().expect("temp dir");
    let workspace = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let path = workspace.path().to_path_buf();
    Fixture {
        _dirs: (cache, workspace),
        store,
        workspace: path,
    }
}

/// Imports a repository holding a composite action at its root and a docker one in `docker/`.
fn import_repo(f: &Fixture) -> StoreEntry {
    let repo = tempfile::tempdir().expect("temp dir");
    write(
        repo.path(),
        &[("action.yml", COMPOSITE), ("docker/action.yaml", DOCKER)],
    );
    let pin = PinnedRepo::new("o", "r", SHA).expect("pin");
    f.store
        .import(repo.path(), &pin)
        .expect("import")
        .entry()
        .clone()
}

#[test]
fn resolves_a_local_action_relative_to_the_workspace() {
    let f = fixture();
    write(&f.workspace, &[(".github/actions/x/action.yml", COMPOSITE)]);
    let resolved = f
        .store
        .resolve(&uses("./.github/actions/x"), &f.workspace)
        .expect("resolves");
    assert_eq!(resolved.origin, ActionOrigin::Workspace);
    let expected = f
        .workspace
        .join(".github/actions/x")
        .canonicalize()
        .expect("dir");
    assert_eq!(resolved.dir, expected);
    assert_eq!(resolved.file, expected.join("action.yml"));
    assert_eq!(resolved.action.runs.using.value, "composite");
}

#[test]
fn same_repository_paths_resolve_from_the_workspace_root() {
    let f = fixture();
    write(&f.workspace, &[("tools/a/action.yaml", COMPOSITE)]);
    let local = uses("$/tools/a");
    let resolved = f.store.resolve(&local, &f.workspace).expect("resolves");
    assert!(resolved.file.ends_with("tools/a/action.yaml"));
}

#[test]
fn a_local_path_may_not_leave_the_workspace() {
    let f = fixture();
    let err = f
        .store
        .resolve(&uses("./../elsewhere"), &f.workspace)
        .expect_err("refused");
    assert!(
        matches!(err, ActionStoreError::ParentInPath { .. }),
        "{err}"
    );
    let outside = tempfile::tempdir().expect("temp dir");
    write(outside.path(), &[("action.yml", COMPOSITE)]);
    std::os::unix::fs::symlink(outside.path(), f.workspace.join("link")).expect("link");
    let err = f
        .store
        .resolve(&uses("./link"), &f.workspace)
        .expect_err("refused");
    assert!(matches!(err, ActionStoreError::Escapes { .. }), "{err}");
    std::fs::create_dir(f.workspace.join("a")).expect("mkdir");
    std::os::unix::fs::symlink(
        outside.path().join("action.yml"),
        f.workspace.join("a/action.yml"),
    )
    .expect("link");
    let err = f
        .store
        .resolve(&uses("./a"), &f.workspace)
        .expect_err("refused");
    assert!(matches!(err, ActionStoreError::Escapes { .. }), "{err}");
}

#[test]
fn a_missing_remote_action_names_the_command_that_fetches_it() {
    let f = fixture();
    let err = f
        .store
        .resolve(&uses(&format!("o/r/sub@{SHA}")), &f.workspace)
        .expect_err("missing");
    let ActionStoreError::NotInStore { command, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(command, &format!("hrun actions pull o/r@{SHA}"));
    assert!(err
        .to_string()
        .contains(&format!("`hrun actions pull o/r@{SHA}`")));
}

#[test]
fn a_remote_action_must_be_pinned_to_a_commit() {
    let f = fixture();
    let err = f
        .store
        .resolve(&uses("actions/checkout@v4"), &f.workspace)
        .expect_err("unpinned");
    assert!(matches!(err, ActionStoreError::Pin(_)), "{err}");
    assert!(err.to_string().contains("not a full 40-hex commit SHA"));
}

#[test]
fn resolves_remote_actions_and_subpaths_from_the_store_with_their_record() {
    let f = fixture();
    let entry = import_repo(&f);
    let root = f
        .store
        .resolve(&uses(&format!("O/R@{SHA}")), &f.workspace)
        .expect("root action");
    assert_eq!(root.origin, ActionOrigin::Store(Box::new(entry.clone())));
    assert_eq!(root.dir, entry.tree().canonicalize().expect("tree"));
    let docker = f
        .store
        .resolve(&uses(&format!("o/r/docker@{SHA}")), &f.workspace)
        .expect("docker action resolves");
    assert_eq!(docker.action.runs.using.value, "docker");
    let err = f
        .store
        .resolve(&uses(&format!("o/r/nope@{SHA}")), &f.workspace)
        .expect_err("no such dir");
    assert!(matches!(err, ActionStoreError::NoDirectory { .. }), "{err}");
}

#[test]
fn a_tampered_store_entry_is_refused() {
    let f = fixture();
    let entry = import_repo(&f);
    std::fs::write(entry.tree().join("action.yml"), DOCKER).expect("tamper");
    let err = f
        .store
        .resolve(&uses(&format!("o/r@{SHA}")), &f.workspace)
        .expect_err("corrupt");
    assert!(matches!(err, ActionStoreError::Corrupt { .. }), "{err}");
    std::fs::remove_file(entry.dir.join(RECORD_FILE)).expect("rm record");
    let err = f
        .store
        .resolve(&uses(&format!("o/r@{SHA}")), &f.workspace)
        .expect_err("corrupt");
    assert!(matches!(err, ActionStoreError::Corrupt { .. }), "{err}");
}

#[test]
fn container_image_steps_and_missing_or_invalid_action_files_are_errors() {
    let f = fixture();
    let err = f
        .store
        .resolve(&uses("docker://alpine:3"), &f.workspace)
        .expect_err("image");
    assert!(
        matches!(err, ActionStoreError::ContainerImage { ref image, .. } if image == "alpine:3")
    );
    write(
        &f.workspace,
        &[("empty/README", ""), ("dockerfile/Dockerfile", "FROM x")],
    );
    let err = f
        .store
        .resolve(&uses("./empty"), &f.workspace)
        .expect_err("none");
    assert!(
        matches!(err, ActionStoreError::NoActionFile { .. }),
        "{err}"
    );
    let err = f
        .store
        .resolve(&uses("./dockerfile"), &f.workspace)
        .expect_err("dockerfile");
    assert!(
        matches!(err, ActionStoreError::DockerfileOnly { .. }),
        "{err}"
    );
    write(
        &f.workspace,
        &[("bad/action.yml", "name: x\nruns:\n  using: node20\n")],
    );
    let err = f
        .store
        .resolve(&uses("./bad"), &f.workspace)
        .expect_err("invalid");
    assert!(
        matches!(err, ActionStoreError::InvalidAction { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("bad/action.yml (Line: 3, Col: 3)"),
        "{err}"
    );
}

#[test]
fn an_action_file_that_is_a_fifo_is_refused_without_blocking() {
    let f = fixture();
    let dir = f.workspace.join(".github/actions/fifo");
    std::fs::create_dir_all(&dir).expect("mkdir");
    nix::unistd::mkfifo(
        &dir.join("action.yml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let err = f
        .store
        .resolve(&uses("./.github/actions/fifo"), &f.workspace)
        .expect_err("a FIFO is no action file");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("the action file is not a regular file"),
        "{err}"
    );
}
