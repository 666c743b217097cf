//! Local actions (`uses: ./path`): finding and reading `action.yml`, and the inputs a step gives
//! an action (`with:` over the action's defaults).
//!
//! Which kinds run: composite actions (their steps run in the calling job, see
//! [`super::step`]) and node actions (`node20`, `node24`; older versions run with the same
//! `node`, as GitHub now forces them onto a current one). Docker actions and remote actions are
//! refused before the job starts ([`super::plan`]).

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use actions_compat::action::{self, Action};

/// Why a local action cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("`{uses}` leaves the repository: a local action's path must stay inside it")]
    OutsideRepository { uses: String },
    #[error("Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under '{}'. Did you forget to run actions/checkout before running your local action?", dir.display())]
    NotFound { dir: PathBuf },
    #[error("{0}")]
    Invalid(String),
}

/// A local action read from disk.
#[derive(Debug, Clone)]
pub struct LocalAction {
    /// The action's directory (`GITHUB_ACTION_PATH`).
    pub dir: PathBuf,
    /// The action file, as diagnostics name it (relative to the repository).
    pub file: String,
    pub action: Action,
}

/// The directory `uses: ./path` names under `root`; never outside it.
pub fn local_dir(root: &Path, uses: &str) -> Result<PathBuf, ActionError> {
    let relative = uses.trim_start_matches("./").trim_start_matches(".\\");
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

/// Reads the action that `uses: ./path` names, under `root` (a repository or a workspace).
pub fn load_local(root: &Path, uses: &str) -> Result<LocalAction, ActionError> {
    let dir = local_dir(root, uses)?;
    let file = ["action.yml", "action.yaml"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file());
    let Some(path) = file else {
        return Err(ActionError::NotFound { dir });
    };
    let display = path
        .strip_prefix(root)
        .unwrap_or(&path)
        .display()
        .to_string();
    let source = std::fs::read_to_string(&path)
        .map_err(|e| ActionError::Invalid(format!("cannot read {display}: {e}")))?;
    let action =
        action::parse(&source, &display).map_err(|e| ActionError::Invalid(e.to_string()))?;
    Ok(LocalAction {
        dir,
        file: display,
        action,
    })
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
        action::parse(src, "action.yml").unwrap()
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
    fn loads_an_action_yaml_and_names_it_relative_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("act")).unwrap();
        std::fs::write(
            dir.path().join("act/action.yaml"),
            "name: a\ndescription: d\nruns:\n  using: node20\n  main: i.js\n",
        )
        .unwrap();
        let a = load_local(dir.path(), "./act").unwrap();
        assert_eq!(a.file, "act/action.yaml");
        assert!(matches!(
            load_local(dir.path(), "./nope"),
            Err(ActionError::NotFound { .. })
        ));
    }
}
