//! Finding the action a step uses, and the inputs the step gives it (`with:` over the action's
//! defaults).
//!
//! Actions come through the action store ([`crate::actions::ActionStore::resolve`]): `./path`
//! from the job's workspace, `$/path` from the root of the repository whose file says it (the
//! workspace, or a remote action's tree for the steps of a remote composite action), and
//! `owner/repo[/path]@sha` from the store only (never the network; a missing one names the
//! command that fetches it). Which kinds run: composite actions and node actions (`node20`,
//! `node24`; older versions run with the same `node`, as GitHub now forces them onto a current
//! one). Docker actions are refused before the job starts ([`super::plan`]).

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use actions_compat::action::Action;
use actions_compat::workflow::UsesRef;

use crate::actions::{ActionOrigin, ActionStore};

/// Why a path names no place in the repository.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("`{uses}` leaves the repository: the path must stay inside it")]
    OutsideRepository { uses: String },
}

/// An action found and read.
#[derive(Debug, Clone)]
pub struct LocalAction {
    /// The action's directory (`GITHUB_ACTION_PATH`).
    pub dir: PathBuf,
    /// The action file, as diagnostics name it.
    pub file: String,
    pub action: Action,
    /// For an action from the store, its repository's tree (what `$/` means in its steps).
    pub tree: Option<PathBuf>,
}

/// The path `uses: ./path` names under `root`; never outside it (no `..`).
pub fn local_dir(root: &Path, uses: &str) -> Result<PathBuf, ActionError> {
    let relative = uses
        .strip_prefix("./")
        .or_else(|| uses.strip_prefix(".\\"))
        .or_else(|| uses.strip_prefix("$/"))
        .unwrap_or(uses);
    let mut dir = root.to_path_buf();
    for part in Path::new(relative).components() {
        match part {
            Component::Normal(p) => dir.push(p),
            Component::CurDir => {}
            _ => {
                return Err(ActionError::OutsideRepository {
                    uses: uses.to_owned(),
                })
            }
        }
    }
    Ok(dir)
}

/// Finds the action `uses` names. `workspace` is where `./` paths are read; `tree`, when the
/// step is in a remote composite action, is what `$/` means (else the workspace).
pub fn resolve(
    store: &ActionStore,
    uses: &UsesRef,
    workspace: &Path,
    tree: Option<&Path>,
) -> Result<LocalAction, String> {
    if let UsesRef::Docker(image) = uses {
        return Err(format!(
            "docker actions are not supported yet (`docker://{}`)",
            image.reference()
        ));
    }
    let base = match (uses, tree) {
        (UsesRef::SameRepository(_), Some(tree)) => tree,
        _ => workspace,
    };
    let resolved = store.resolve(uses, base).map_err(|e| with_sources(&e))?;
    let (file, tree) = match &resolved.origin {
        ActionOrigin::Workspace => {
            let canonical = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
            let shown = resolved
                .file
                .strip_prefix(&canonical)
                .or_else(|_| resolved.file.strip_prefix(base))
                .unwrap_or(&resolved.file)
                .display()
                .to_string();
            (shown, tree.map(Path::to_path_buf))
        }
        ActionOrigin::Store(entry) => {
            let name = resolved
                .file
                .file_name()
                .map_or_else(|| "action.yml".into(), |n| n.to_string_lossy().into_owned());
            (format!("{uses}/{name}"), Some(entry.tree()))
        }
    };
    Ok(LocalAction {
        dir: resolved.dir,
        file,
        action: resolved.action,
        tree,
    })
}

/// An error and each of its sources, `: `-separated.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}

/// The inputs an action gets: each declared input from `with` (names compared ignoring case) or
/// its evaluated default, then any undeclared `with` key. Also the warnings GitHub gives for
/// undeclared and missing required inputs.
pub fn inputs(
    action: &Action,
    with: &IndexMap<String, String>,
    defaults: &IndexMap<String, String>,
) -> (IndexMap<String, String>, Vec<String>) {
    let mut values = IndexMap::new();
    let mut warnings = Vec::new();
    for (name, input) in &action.inputs {
        let given = with
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
        match given {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None => {
                if input.required && input.default.is_none() {
                    warnings.push(format!("Input required and not supplied: {name}"));
                }
                values.insert(
                    name.clone(),
                    defaults.get(name).cloned().unwrap_or_default(),
                );
            }
        }
    }
    let unexpected: Vec<&str> = with
        .keys()
        .filter(|k| !action.inputs.keys().any(|n| n.eq_ignore_ascii_case(k)))
        .map(String::as_str)
        .collect();
    if !unexpected.is_empty() {
        let valid: Vec<&str> = action.inputs.keys().map(String::as_str).collect();
        warnings.push(format!(
            "Unexpected input(s) '{}', valid inputs are ['{}']",
            unexpected.join("', '"),
            valid.join("', '")
        ));
        for k in unexpected {
            if let Some(v) = with.get(k) {
                values.insert(k.to_owned(), v.clone());
            }
        }
    }
    (values, warnings)
}

/// `INPUT_<NAME>`: upper case, spaces as `_`, as GitHub's runner names them.
pub fn input_env_name(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(src: &str) -> Action {
        actions_compat::action::parse(src, "action.yml").unwrap()
    }

    #[test]
    fn refuses_paths_that_leave_the_repository() {
        let root = Path::new("/repo");
        assert_eq!(
            local_dir(root, "./a/b").unwrap(),
            PathBuf::from("/repo/a/b")
        );
        assert!(local_dir(root, "./../x").is_err());
        assert!(local_dir(root, "./a/../../x").is_err());
    }

    #[test]
    fn inputs_take_with_then_defaults_and_warn_on_unknown_ones() {
        let a = action(
            "name: a\ndescription: d\ninputs:\n  who:\n    description: w\n    default: world\n  Need:\n    description: n\n    required: true\nruns:\n  using: composite\n  steps: []\n",
        );
        let mut with = IndexMap::new();
        with.insert("need".to_owned(), "x".to_owned());
        with.insert("extra".to_owned(), "y".to_owned());
        let mut defaults = IndexMap::new();
        defaults.insert("who".to_owned(), "world".to_owned());
        let (values, warnings) = inputs(&a, &with, &defaults);
        assert_eq!(values.get("who").map(String::as_str), Some("world"));
        assert_eq!(values.get("Need").map(String::as_str), Some("x"));
        assert_eq!(values.get("extra").map(String::as_str), Some("y"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("'extra'"));
    }

    #[test]
    fn missing_required_input_warns() {
        let a = action(
            "name: a\ndescription: d\ninputs:\n  need:\n    description: n\n    required: true\nruns:\n  using: node20\n  main: index.js\n",
        );
        let (_, warnings) = inputs(&a, &IndexMap::new(), &IndexMap::new());
        assert_eq!(warnings, ["Input required and not supplied: need"]);
    }

    #[test]
    fn input_variables_are_upper_case_with_underscores() {
        assert_eq!(input_env_name("my input-x"), "INPUT_MY_INPUT-X");
    }

    #[test]
    fn resolves_a_local_action_and_names_it_relative_to_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("act")).unwrap();
        std::fs::write(
            dir.path().join("act/action.yaml"),
            "name: a\ndescription: d\nruns:\n  using: node20\n  main: i.js\n",
        )
        .unwrap();
        let store = ActionStore::new(dir.path().join("cache"));
        let local = UsesRef::parse("./act").unwrap();
        let a = resolve(&store, &local, dir.path(), None).unwrap();
        assert_eq!(a.file, "act/action.yaml");
        let root = UsesRef::parse("$/act").unwrap();
        assert_eq!(
            resolve(&store, &root, dir.path(), None).unwrap().file,
            "act/action.yaml"
        );
        let missing = UsesRef::parse("./nope").unwrap();
        assert!(resolve(&store, &missing, dir.path(), None).is_err());
    }

    #[test]
    fn a_missing_remote_action_names_the_command_that_fetches_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = ActionStore::new(dir.path().join("cache"));
        let uses =
            UsesRef::parse("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683").unwrap();
        let err = resolve(&store, &uses, dir.path(), None).unwrap_err();
        assert!(
            err.contains(
                "hrun actions pull actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
            ),
            "{err}"
        );
    }

    #[test]
    fn container_images_are_not_supported_yet() {
        let dir = tempfile::tempdir().unwrap();
        let store = ActionStore::new(dir.path().join("cache"));
        let uses = UsesRef::parse("docker://alpine:3").unwrap();
        let err = resolve(&store, &uses, dir.path(), None).unwrap_err();
        assert!(
            err.contains("docker actions are not supported yet"),
            "{err}"
        );
    }
}
