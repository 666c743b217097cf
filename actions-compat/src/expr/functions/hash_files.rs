//! `hashFiles(pattern, ...)`: the SHA-256 of the SHA-256 digests of every file the patterns match
//! under the workspace, or `''` when none does, computed as GitHub's runner computes it.
//!
//! Files are taken in the order GitHub's glob walk yields them: search paths in pattern order,
//! each walked depth first with a directory's entries in byte order of their names (Node's
//! `readdir` sorts them so). A first argument `--follow-symbolic-links` makes the walk follow
//! symbolic links to directories.
//!
//! Deliberate difference: nothing outside the workspace is read. GitHub ignores files whose path
//! is outside the workspace but reads a symbolic link's target wherever it is; here a link whose
//! target resolves outside the workspace is skipped, so a job cannot learn the hash of a host file.

use super::super::eval::coerce::to_string;
use super::super::eval::val::Val;
use super::super::eval::Evaluator;
use super::super::{Expr, ExprError};
use super::glob::{match_all, partial_match_any, Pattern, MATCH_FILE};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub(super) fn hash_files<'a>(
    ev: &mut Evaluator<'a>,
    args: &'a [Expr],
    level: usize,
) -> Result<Val<'a>, ExprError> {
    let mut follow_links = false;
    let mut patterns = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let text = to_string(&ev.eval(arg, level + 1)?).into_owned();
        if i == 0 && text.starts_with("--") {
            if text.eq_ignore_ascii_case("--follow-symbolic-links") {
                follow_links = true;
                continue;
            }
            return Err(ExprError::evaluation(format!(
                "Invalid glob option {text}, avaliable option: '--follow-symbolic-links'."
            )));
        }
        patterns.push(text);
    }
    let Some(workspace) = ev.ctx.workspace else {
        return Err(ExprError::evaluation(
            "hashFiles is not available here: there is no workspace to read files from",
        ));
    };
    let failed = || {
        ExprError::evaluation(format!(
            "hashFiles('{}') failed. Fail to hash files under directory '{}'",
            patterns.join(", ").replace('\'', "''"),
            workspace.display()
        ))
    };
    let digest =
        hash_matching_files(workspace, &patterns.join("\n"), follow_links).map_err(|_| failed())?;
    Ok(Val::string(digest.unwrap_or_default()))
}

/// Why hashing failed; GitHub reports every failure the same way.
#[derive(Debug)]
struct Failed;

impl From<std::io::Error> for Failed {
    fn from(_: std::io::Error) -> Self {
        Failed
    }
}

/// The combined hex digest of the matching files, `None` when no file matches.
fn hash_matching_files(
    workspace: &Path,
    patterns: &str,
    follow_links: bool,
) -> Result<Option<String>, Failed> {
    let root = fs::canonicalize(workspace)?;
    let root_segments = segments_of(&root);
    let mut all = Vec::new();
    for line in patterns.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let pattern = Pattern::parse(line, &root_segments).map_err(|_| Failed)?;
        let implicit = pattern.descendants();
        all.push(pattern);
        all.extend(implicit);
    }
    let mut combined = Sha256::new();
    let mut any = false;
    for search in search_paths(&all) {
        let start = if search.starts_with(&root_segments) {
            search
        } else if root_segments.starts_with(&search) {
            // The search starts above the workspace: GitHub reaches the workspace only if every
            // directory on the way down matches or may lead to a match.
            let reachable = (search.len()..root_segments.len()).all(|n| {
                let dir = &root_segments[..n];
                match_all(&all, dir) != 0 || partial_match_any(&all, dir)
            });
            if !reachable {
                continue;
            }
            root_segments.clone()
        } else {
            continue;
        };
        for file in walk(&root, &root_segments, &start, &all, follow_links)? {
            let mut hasher = Sha256::new();
            let mut reader = fs::File::open(&file)?;
            let mut buffer = [0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
            }
            combined.update(hasher.finalize());
            any = true;
        }
    }
    Ok(any.then(|| hex(&combined.finalize())))
}

/// GitHub's search paths: each positive pattern's literal prefix, without duplicates or paths
/// below another search path, in pattern order.
fn search_paths(patterns: &[Pattern]) -> Vec<Vec<String>> {
    let candidates: Vec<Vec<String>> = patterns
        .iter()
        .filter(|p| !p.negate)
        .filter_map(Pattern::search_path)
        .collect();
    let mut result: Vec<Vec<String>> = Vec::new();
    for candidate in &candidates {
        if result.contains(candidate) {
            continue;
        }
        let has_ancestor = (0..candidate.len())
            .any(|n| candidates.iter().any(|c| c.as_slice() == &candidate[..n]));
        if !has_ancestor {
            result.push(candidate.clone());
        }
    }
    result
}

/// The files to hash below `start`, in GitHub's order.
fn walk(
    root: &Path,
    root_segments: &[String],
    start: &[String],
    patterns: &[Pattern],
    follow_links: bool,
) -> Result<Vec<PathBuf>, Failed> {
    let to_path = |segments: &[String]| -> PathBuf {
        let mut p = PathBuf::from("/");
        p.extend(segments);
        p
    };
    let mut files = Vec::new();
    let mut stack = vec![start.to_vec()];
    let mut chain: Vec<(usize, PathBuf)> = Vec::new();
    if fs::symlink_metadata(to_path(start)).is_err() {
        return Ok(files);
    }
    while let Some(item) = stack.pop() {
        let matched = match_all(patterns, &item);
        if matched == 0 && !partial_match_any(patterns, &item) {
            continue;
        }
        let path = to_path(&item);
        let metadata = fs::symlink_metadata(&path)?;
        // A symbolic link counts as what it points to only when following links; either way
        // its target is read only if it resolves inside the workspace.
        let (is_dir, read_from) = if metadata.file_type().is_symlink() {
            if !follow_links && matched & MATCH_FILE == 0 {
                continue;
            }
            let target = match fs::canonicalize(&path) {
                Ok(target) if target.starts_with(root) => target,
                Ok(_) => continue,
                Err(_) if follow_links => continue,
                Err(_) => return Err(Failed),
            };
            let target_is_dir = target.is_dir();
            if target_is_dir && !follow_links {
                continue;
            }
            (target_is_dir, target)
        } else {
            (metadata.is_dir(), path.clone())
        };
        if is_dir {
            if follow_links {
                chain.retain(|(depth, _)| *depth < item.len());
                if chain.iter().any(|(_, p)| *p == read_from) {
                    continue;
                }
                chain.push((item.len(), read_from.clone()));
            }
            let mut names: Vec<std::ffi::OsString> = fs::read_dir(&path)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()?;
            names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
            for name in names.into_iter().rev() {
                let mut child = item.clone();
                child.push(name.to_string_lossy().into_owned());
                stack.push(child);
            }
        } else if matched & MATCH_FILE != 0 {
            debug_assert!(item.starts_with(root_segments));
            files.push(read_from);
        }
    }
    Ok(files)
}

fn segments_of(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch directory removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "hrun-hashfiles-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }

        fn file(&self, rel: &str, content: &str) {
            let path = self.0.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create parent");
            }
            fs::write(path, content).expect("write file");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn sha(data: &[u8]) -> Vec<u8> {
        Sha256::digest(data).to_vec()
    }

    fn expected(contents: &[&str]) -> String {
        let mut all = Sha256::new();
        for c in contents {
            all.update(sha(c.as_bytes()));
        }
        hex(&all.finalize())
    }

    fn hash(dir: &Scratch, patterns: &str) -> Option<String> {
        hash_matching_files(&dir.0, patterns, false).expect("hashing works")
    }

    #[test]
    fn hashes_the_digests_of_matching_files_in_walk_order() {
        let dir = Scratch::new();
        dir.file("b.txt", "B");
        dir.file("a/z.txt", "AZ");
        dir.file("a.txt", "A");
        dir.file("c.md", "C");
        // Depth first, entries in byte order: "a" < "a.txt" < "b.txt".
        assert_eq!(hash(&dir, "**/*.txt"), Some(expected(&["AZ", "A", "B"])));
    }

    #[test]
    fn nothing_matching_gives_none() {
        let dir = Scratch::new();
        dir.file("a.txt", "A");
        assert_eq!(hash(&dir, "*.rs"), None);
        assert_eq!(hash(&dir, ""), None);
    }

    #[test]
    fn negated_patterns_exclude_and_directories_match_their_files() {
        let dir = Scratch::new();
        dir.file("src/a.rs", "1");
        dir.file("src/b.rs", "2");
        dir.file("src/deep/c.rs", "3");
        assert_eq!(hash(&dir, "src\n!src/b.rs"), Some(expected(&["1", "3"])));
        assert_eq!(hash(&dir, "src/"), Some(expected(&["1", "2", "3"])));
    }

    #[test]
    fn search_paths_keep_pattern_order() {
        let dir = Scratch::new();
        dir.file("a/x", "AX");
        dir.file("b/x", "BX");
        assert_eq!(hash(&dir, "b/**\na/**"), Some(expected(&["BX", "AX"])));
    }

    #[test]
    fn refuses_parent_directory_patterns() {
        let dir = Scratch::new();
        assert!(hash_matching_files(&dir.0, "../*", false).is_err());
    }

    #[test]
    fn never_reads_through_links_leaving_the_workspace() {
        let outside = Scratch::new();
        outside.file("secret", "S");
        let dir = Scratch::new();
        dir.file("a.txt", "A");
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.0.join("secret"), dir.0.join("link.txt"))
            .expect("symlink");
        assert_eq!(hash(&dir, "*.txt"), Some(expected(&["A"])));
    }

    #[test]
    fn evaluates_through_the_expression_api() {
        use crate::expr::{evaluate, parse, EvalContext, ParseOptions, Value};
        let dir = Scratch::new();
        dir.file("Cargo.lock", "lock");
        let options = ParseOptions::default().with_all_functions();
        let expr = parse("hashFiles('**/Cargo.lock', '!nothing')", &options).expect("parses");
        let contexts = Value::Null;
        let mut ctx = EvalContext::new(&contexts);
        assert!(evaluate(&expr, &ctx).is_err(), "no workspace is an error");
        ctx.workspace = Some(&dir.0);
        assert_eq!(
            evaluate(&expr, &ctx),
            Ok(Value::String(expected(&["lock"])))
        );
        let bad = parse("hashFiles('--nope', 'x')", &options).expect("parses");
        assert_eq!(
            evaluate(&bad, &ctx).map_err(|e| e.message),
            Err("Invalid glob option --nope, avaliable option: '--follow-symbolic-links'.".into())
        );
    }
}
