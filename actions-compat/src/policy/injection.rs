//! Which context paths carry text that an outsider chooses, for the template-injection rule.
//!
//! A path is given the way an expression names it (`github.event.issue.title`,
//! `github.event.commits[0].message`, `github.event.commits.*.message`) and matched, ignoring
//! case as GitHub's contexts do, against a list of event fields that anyone who can open an
//! issue, a pull request, a discussion or a fork can fill in: titles, bodies, comments, review
//! bodies, commit messages, author and committer names and emails, branch names and labels of
//! heads, wiki page names. This module does no I/O and knows nothing of where the path stood.

/// Event fields whose text an outsider controls. `*` stands for any one segment (an array index
/// or an object key). Kept lowercase.
const ATTACKER_CONTROLLED: &[&str] = &[
    "github.head_ref",
    // issues, issue_comment
    "github.event.issue.title",
    "github.event.issue.body",
    // pull_request, pull_request_target, pull_request_review(_comment)
    "github.event.pull_request.title",
    "github.event.pull_request.body",
    "github.event.pull_request.head.ref",
    "github.event.pull_request.head.label",
    "github.event.pull_request.head.repo.default_branch",
    "github.event.pull_request.head.repo.description",
    "github.event.pull_request.head.repo.homepage",
    "github.event.pull_request.head.repo.name",
    "github.event.pull_request.head.repo.full_name",
    // comments of every kind, reviews
    "github.event.comment.body",
    "github.event.review.body",
    "github.event.review_comment.body",
    // discussion, discussion_comment
    "github.event.discussion.title",
    "github.event.discussion.body",
    // `edited` activity types carry the previous text
    "github.event.changes.title.from",
    "github.event.changes.body.from",
    // gollum
    "github.event.pages.*.page_name",
    "github.event.pages.*.title",
    "github.event.pages.*.summary",
    // push (from forks' branches merged, or any pusher's commits)
    "github.event.head_commit.message",
    "github.event.head_commit.author.name",
    "github.event.head_commit.author.email",
    "github.event.head_commit.committer.name",
    "github.event.head_commit.committer.email",
    "github.event.commits.*.message",
    "github.event.commits.*.author.name",
    "github.event.commits.*.author.email",
    "github.event.commits.*.committer.name",
    "github.event.commits.*.committer.email",
    // workflow_run: the triggering run may come from a fork's pull request
    "github.event.workflow_run.head_branch",
    "github.event.workflow_run.display_title",
    "github.event.workflow_run.head_commit.message",
    "github.event.workflow_run.head_commit.author.name",
    "github.event.workflow_run.head_commit.author.email",
    "github.event.workflow_run.head_commit.committer.name",
    "github.event.workflow_run.head_commit.committer.email",
    "github.event.workflow_run.head_repository.description",
    "github.event.workflow_run.head_repository.name",
    "github.event.workflow_run.head_repository.full_name",
    "github.event.workflow_run.pull_requests.*.head.ref",
    // check_suite, check_run
    "github.event.check_suite.head_branch",
    "github.event.check_suite.head_commit.message",
    "github.event.check_suite.head_commit.author.name",
    "github.event.check_suite.head_commit.author.email",
    "github.event.check_suite.head_commit.committer.name",
    "github.event.check_suite.head_commit.committer.email",
    "github.event.check_suite.pull_requests.*.head.ref",
    "github.event.check_run.check_suite.head_branch",
    "github.event.check_run.check_suite.pull_requests.*.head.ref",
    "github.event.check_run.pull_requests.*.head.ref",
    // merge_group
    "github.event.merge_group.head_commit.message",
    "github.event.merge_group.head_commit.author.name",
    "github.event.merge_group.head_commit.author.email",
    "github.event.merge_group.head_commit.committer.name",
    "github.event.merge_group.head_commit.committer.email",
];

/// How an expression's path reaches attacker-controlled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taint {
    /// The path is (or reads into) an attacker-controlled field, named by the matching entry.
    Field(&'static str),
    /// The path is an object that contains such a field (`github.event.pull_request`), which
    /// `toJSON()` or `join()` would expand whole.
    Contains(&'static str),
}

impl Taint {
    /// The attacker-controlled field this taint comes from (with `*` for any index).
    pub fn field(&self) -> &'static str {
        match self {
            Taint::Field(field) | Taint::Contains(field) => field,
        }
    }
}

/// Whether the context path expands text an outsider controls.
pub fn attacker_controlled(path: &str) -> Option<Taint> {
    let segments = split_path(path);
    if segments.is_empty() {
        return None;
    }
    let mut contains = None;
    for pattern in ATTACKER_CONTROLLED {
        let pattern_segments: Vec<&str> = pattern.split('.').collect();
        let common = segments.len().min(pattern_segments.len());
        let agrees = segments
            .iter()
            .zip(&pattern_segments)
            .take(common)
            .all(|(seg, pat)| *pat == "*" || seg == "*" || seg == pat);
        if !agrees {
            continue;
        }
        if segments.len() >= pattern_segments.len() {
            return Some(Taint::Field(pattern));
        }
        contains.get_or_insert(Taint::Contains(pattern));
    }
    contains
}

/// `github.event.commits[0]['message']` → `["github", "event", "commits", "0", "message"]`,
/// lowercased. A segment that is not a plain name or literal (`[matrix.i]`) becomes `*`.
fn split_path(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else {
                segments.push("*".to_string());
                break;
            };
            let inner = after.get(..end).unwrap_or_default().trim();
            let unquoted = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .map(|s| s.replace("''", "'"));
            let segment = match unquoted {
                Some(key) => key,
                None if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) => {
                    inner.to_string()
                }
                None => "*".to_string(),
            };
            segments.push(segment.to_ascii_lowercase());
            rest = after.get(end + 1..).unwrap_or_default();
        } else if let Some(after) = rest.strip_prefix('.') {
            rest = after;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segments.push(
                rest.get(..end)
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase(),
            );
            rest = rest.get(end..).unwrap_or_default();
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_titles_bodies_and_comments() {
        for path in [
            "github.event.issue.title",
            "github.event.issue.body",
            "github.event.pull_request.title",
            "github.event.pull_request.body",
            "github.event.comment.body",
            "github.event.review.body",
            "github.event.review_comment.body",
            "github.event.discussion.title",
        ] {
            assert_eq!(
                attacker_controlled(path),
                Some(Taint::Field(path_static(path))),
                "{path}"
            );
        }
    }

    fn path_static(path: &str) -> &'static str {
        ATTACKER_CONTROLLED
            .iter()
            .find(|p| **p == path)
            .copied()
            .unwrap_or("not in list")
    }

    #[test]
    fn flags_head_refs_labels_and_commit_metadata() {
        for path in [
            "github.head_ref",
            "github.event.pull_request.head.ref",
            "github.event.pull_request.head.label",
            "github.event.head_commit.message",
            "github.event.head_commit.author.email",
            "github.event.head_commit.author.name",
            "github.event.workflow_run.head_branch",
        ] {
            assert!(
                matches!(attacker_controlled(path), Some(Taint::Field(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn matches_indexes_and_wildcards_against_any_element() {
        for path in [
            "github.event.commits[0].message",
            "github.event.commits.*.message",
            "github.event.commits[*].author.name",
            "github.event.pages[2].page_name",
            "github.event['issue']['title']",
            "github.event.commits[matrix.i].message",
        ] {
            assert!(
                matches!(attacker_controlled(path), Some(Taint::Field(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn ignores_case_as_contexts_do() {
        assert!(attacker_controlled("GitHub.Event.Issue.Title").is_some());
        assert!(attacker_controlled("github.HEAD_REF").is_some());
    }

    #[test]
    fn flags_objects_that_contain_attacker_text() {
        assert_eq!(
            attacker_controlled("github.event.pull_request"),
            Some(Taint::Contains("github.event.pull_request.title"))
        );
        assert!(matches!(
            attacker_controlled("github.event"),
            Some(Taint::Contains(_))
        ));
        assert!(matches!(
            attacker_controlled("github.event.commits"),
            Some(Taint::Contains(_))
        ));
    }

    #[test]
    fn leaves_safe_fields_alone() {
        for path in [
            "github.sha",
            "github.ref",
            "github.event.pull_request.number",
            "github.event.pull_request.head.sha",
            "github.event.issue.number",
            "github.event.sender.login",
            "github.repository",
            "matrix.os",
            "steps.build.outputs.path",
            "inputs.title",
            "",
        ] {
            assert_eq!(attacker_controlled(path), None, "{path}");
        }
    }

    #[test]
    fn splits_odd_paths_without_panicking() {
        for path in ["[", "a[", "a['", "a.[0", "..", "a]b", "é.ü[ä]"] {
            let _ = attacker_controlled(path);
        }
        assert_eq!(split_path("a['it''s'].b"), ["a", "it's", "b"]);
    }
}
