//! Which files `hrun lint PATH...` reads: the workflows and actions under each path, and the
//! repository each belongs to (for the policy file and for repository-relative SARIF URIs).
//!
//! A file argument is linted as given (`action.yml`/`action.yaml` as an action, anything else
//! as a workflow). A directory is searched, at any depth, for `.github/workflows/*.yml|*.yaml`
//! (so a directory holding several repositories lints each) and `action.yml|action.yaml` (except
//! directly in `.github/workflows/`, where GitHub reads every YAML file as a workflow); the
//! search skips `.git`, `node_modules`, `target` and hidden directories other than `.github`,
//! never follows symbolic links, and is bounded in depth and entries so that no tree can make it
//! hang.

use super::report::LintError;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// How deep below a directory argument `action.yml` files are looked for.
const MAX_DEPTH: usize = 24;
/// Most directory entries looked at under one directory argument.
const MAX_ENTRIES: usize = 200_000;

/// What a file is parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Workflow,
    Action,
}

impl FileKind {
    /// `"workflow"` or `"action"`, as Rego policies see it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Workflow => "workflow",
            FileKind::Action => "action",
        }
    }

    /// What the file at `path` is read as: `action.yml` and `action.yaml` are actions, except
    /// directly under `.github/workflows/`, where GitHub reads every YAML file as a workflow.
    pub fn of(path: &Path) -> FileKind {
        let in_workflows = path.parent().is_some_and(is_workflows_dir);
        match path.file_name().and_then(|n| n.to_str()) {
            Some("action.yml" | "action.yaml") if !in_workflows => FileKind::Action,
            _ => FileKind::Workflow,
        }
    }
}

/// A file to lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintTarget {
    /// As found: the argument joined with what the search found below it.
    pub path: PathBuf,
    pub kind: FileKind,
    /// The repository the file belongs to.
    pub repo_root: PathBuf,
    /// The path relative to `repo_root`, with `/` separators.
    pub repo_relative: String,
}

impl LintTarget {
    /// A file at `path`, in the repository that contains it.
    pub fn new(path: PathBuf, kind: FileKind) -> LintTarget {
        let repo_root = repository_root(&path);
        let repo_relative = relative_to(&path, &repo_root);
        LintTarget {
            path,
            kind,
            repo_root,
            repo_relative,
        }
    }
}

/// The files under `paths` (the current directory when empty), each once, and the paths that
/// could not be searched.
pub fn discover(paths: &[PathBuf]) -> (Vec<LintTarget>, Vec<LintError>) {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut targets: Vec<LintTarget> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut errors = Vec::new();
    for arg in paths {
        let metadata = match std::fs::metadata(arg) {
            Ok(metadata) => metadata,
            Err(source) => {
                errors.push(LintError::Search {
                    path: arg.clone(),
                    source,
                });
                continue;
            }
        };
        let found = if metadata.is_dir() {
            match search_directory(arg) {
                Ok(found) => found,
                Err(source) => {
                    errors.push(LintError::Search {
                        path: arg.clone(),
                        source,
                    });
                    continue;
                }
            }
        } else {
            vec![(tidy(arg), FileKind::of(arg))]
        };
        for (path, kind) in found {
            if seen.insert(absolute(&path)) {
                targets.push(LintTarget::new(path, kind));
            }
        }
    }
    (targets, errors)
}

fn search_directory(dir: &Path) -> std::io::Result<Vec<(PathBuf, FileKind)>> {
    let mut found = Found::default();
    if is_workflows_dir(dir) {
        found.workflows.extend(workflow_files(dir)?);
    }
    let mut budget = MAX_ENTRIES;
    found.walk(dir, 0, &mut budget)?;
    found.workflows.sort();
    found.actions.sort();
    Ok(found
        .workflows
        .into_iter()
        .map(|p| (tidy(&p), FileKind::Workflow))
        .chain(
            found
                .actions
                .into_iter()
                .map(|p| (tidy(&p), FileKind::Action)),
        )
        .collect())
}

/// What a directory search found.
#[derive(Default)]
struct Found {
    workflows: Vec<PathBuf>,
    actions: Vec<PathBuf>,
}

impl Found {
    fn walk(&mut self, dir: &Path, depth: usize, budget: &mut usize) -> std::io::Result<()> {
        let entries = std::fs::read_dir(dir)?;
        let in_github = dir.file_name().is_some_and(|n| n == ".github");
        let in_workflows = is_workflows_dir(dir);
        let mut subdirs = Vec::new();
        for entry in entries {
            if *budget == 0 {
                return Ok(());
            }
            *budget -= 1;
            let Ok(entry) = entry else { continue };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if file_type.is_file() {
                if !in_workflows && matches!(name.as_ref(), "action.yml" | "action.yaml") {
                    self.actions.push(entry.path());
                }
            } else if file_type.is_dir() && depth < MAX_DEPTH && !skipped_dir(&name) {
                if in_github && name == "workflows" {
                    // Not the user's argument: an unreadable one is skipped.
                    self.workflows
                        .extend(workflow_files(&entry.path()).unwrap_or_default());
                }
                subdirs.push(entry.path());
            }
        }
        for sub in subdirs {
            // An unreadable subdirectory is not the user's argument: skip it rather than fail.
            let _ = self.walk(&sub, depth + 1, budget);
        }
        Ok(())
    }
}

/// The `*.yml` and `*.yaml` files directly in a `.github/workflows` directory.
fn workflow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            )
        })
        .collect())
}

fn skipped_dir(name: &str) -> bool {
    matches!(name, ".git" | "node_modules" | "target")
        || (name.starts_with('.') && name != ".github")
}

fn is_workflows_dir(dir: &Path) -> bool {
    let Ok(absolute) = std::path::absolute(dir) else {
        return false;
    };
    let mut names = absolute.components().rev().filter_map(|c| match c {
        Component::Normal(name) => Some(name),
        _ => None,
    });
    names.next().is_some_and(|n| n == "workflows") && names.next().is_some_and(|n| n == ".github")
}

/// `./x` → `x`, so paths read the way a user writes them.
fn tidy(path: &Path) -> PathBuf {
    let stripped = path.strip_prefix(".").unwrap_or(path);
    if stripped.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        stripped.to_path_buf()
    }
}

/// The path made absolute without touching the file system beyond the current directory
/// (symbolic links are not resolved), or the path itself if that fails.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The repository a path belongs to: the directory above the `.github` the path is in (GitHub
/// reads `.github` only at a repository's root, so a workflow at `X/.github/workflows/` belongs
/// to `X`, even when `X` is nested in another checkout); failing that, the nearest directory
/// above `path` that holds `.git`; failing that, the path's own directory.
pub fn repository_root(path: &Path) -> PathBuf {
    let absolute = absolute(path);
    let start = if absolute.is_dir() {
        absolute.as_path()
    } else {
        absolute.parent().unwrap_or(Path::new("/"))
    };
    if let Some(github) = start
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == ".github"))
    {
        if let Some(root) = github.parent() {
            return root.to_path_buf();
        }
    }
    if let Some(root) = start.ancestors().find(|dir| dir.join(".git").exists()) {
        return root.to_path_buf();
    }
    start.to_path_buf()
}

/// `path` relative to `root`, with `/` separators; the path as given when it is not below root.
pub fn relative_to(path: &Path, root: &Path) -> String {
    let absolute = absolute(path);
    let relative = absolute.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_tree::TestTree;

    #[test]
    fn finds_workflows_and_actions_under_a_directory() {
        let tree = TestTree::new("discover-dir");
        tree.write(".git/HEAD", "ref: refs/heads/main\n");
        tree.write(".github/workflows/ci.yml", "on: push\n");
        tree.write(".github/workflows/release.yaml", "on: push\n");
        tree.write(".github/workflows/notes.txt", "");
        tree.write(".github/actions/setup/action.yml", "runs: {}\n");
        tree.write("action.yaml", "runs: {}\n");
        tree.write("node_modules/x/action.yml", "runs: {}\n");
        tree.write(".hidden/action.yml", "runs: {}\n");
        let (targets, errors) = discover(&[tree.root().to_path_buf()]);
        assert!(errors.is_empty(), "{errors:?}");
        let found: Vec<(String, FileKind)> = targets
            .iter()
            .map(|t| (t.repo_relative.clone(), t.kind))
            .collect();
        assert_eq!(
            found,
            [
                (".github/workflows/ci.yml".to_string(), FileKind::Workflow),
                (
                    ".github/workflows/release.yaml".to_string(),
                    FileKind::Workflow
                ),
                (
                    ".github/actions/setup/action.yml".to_string(),
                    FileKind::Action
                ),
                ("action.yaml".to_string(), FileKind::Action),
            ]
        );
        assert!(targets.iter().all(|t| t.repo_root == tree.root()));
    }

    #[test]
    fn a_workflows_directory_argument_lints_its_files() {
        let tree = TestTree::new("discover-workflows");
        tree.write(".github/workflows/ci.yml", "on: push\n");
        let (targets, _) = discover(&[tree.root().join(".github/workflows")]);
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].repo_relative, ".github/workflows/ci.yml");
        assert_eq!(targets[0].repo_root, tree.root());
    }

    #[test]
    fn a_file_argument_is_linted_once_whatever_its_name() {
        let tree = TestTree::new("discover-file");
        tree.write("wf.yml", "on: push\n");
        tree.write("sub/action.yml", "runs: {}\n");
        let wf = tree.root().join("wf.yml");
        let (targets, _) = discover(&[wf.clone(), wf, tree.root().join("sub/action.yml")]);
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].kind, FileKind::Workflow);
        assert_eq!(targets[1].kind, FileKind::Action);
    }

    #[test]
    fn an_action_yml_among_workflows_is_a_workflow() {
        let tree = TestTree::new("discover-action-named-workflow");
        tree.write(".github/workflows/action.yml", "on: push\n");
        let file = tree.root().join(".github/workflows/action.yml");
        let (targets, _) = discover(std::slice::from_ref(&file));
        assert_eq!(targets[0].kind, FileKind::Workflow);
        let (targets, _) = discover(&[tree.root().to_path_buf()]);
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].kind, FileKind::Workflow);
    }

    #[test]
    fn finds_the_workflows_of_every_repository_below_a_directory() {
        let tree = TestTree::new("discover-nested");
        tree.write("one/.github/workflows/ci.yml", "on: push\n");
        tree.write("one/.github/workflows/action.yml", "on: push\n");
        tree.write("one/.github/workflows/sub/x.yml", "on: push\n");
        tree.write("two/.github/workflows/release.yaml", "on: push\n");
        tree.write("two/.github/actions/setup/action.yml", "runs: {}\n");
        let (targets, errors) = discover(&[tree.root().to_path_buf()]);
        assert!(errors.is_empty(), "{errors:?}");
        let found: Vec<(String, String, FileKind)> = targets
            .iter()
            .map(|t| {
                let repo = t
                    .repo_root
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (repo, t.repo_relative.clone(), t.kind)
            })
            .collect();
        let entry = |repo: &str, path: &str, kind| (repo.to_string(), path.to_string(), kind);
        assert_eq!(
            found,
            [
                entry("one", ".github/workflows/action.yml", FileKind::Workflow),
                entry("one", ".github/workflows/ci.yml", FileKind::Workflow),
                entry("two", ".github/workflows/release.yaml", FileKind::Workflow),
                entry("two", ".github/actions/setup/action.yml", FileKind::Action),
            ]
        );
    }

    #[test]
    fn a_workflow_belongs_to_the_directory_above_its_github_even_inside_another_checkout() {
        let outer = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(outer.path().join(".git")).expect("mkdir .git");
        let wf = outer.path().join("examples/demo/.github/workflows/ci.yml");
        std::fs::create_dir_all(wf.parent().expect("parent")).expect("mkdir");
        std::fs::write(&wf, "on: push").expect("write");
        assert_eq!(repository_root(&wf), outer.path().join("examples/demo"));
        let src = outer.path().join("src");
        std::fs::create_dir(&src).expect("mkdir src");
        assert_eq!(repository_root(&src), outer.path());
    }

    #[test]
    fn a_missing_path_is_an_error_not_a_silent_pass() {
        let tree = TestTree::new("discover-missing");
        let (targets, errors) = discover(&[tree.root().join("nope")]);
        assert!(targets.is_empty());
        assert!(matches!(errors.as_slice(), [LintError::Search { .. }]));
    }

    #[test]
    fn tidies_leading_dot_segments() {
        assert_eq!(tidy(Path::new("./a/b")), Path::new("a/b"));
        assert_eq!(tidy(Path::new(".")), Path::new("."));
    }
}
