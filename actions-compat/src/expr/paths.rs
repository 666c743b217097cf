//! The context paths an expression reads, for the policy gate's template-injection check: which
//! untrusted values (`github.event.issue.title`, `github.head_ref`, ...) can reach a script.

use super::ast::{Expr, ExprKind};
use super::lexer::is_legal_keyword;

impl Expr {
    /// The context paths this expression reads, in order of first appearance, without repeats.
    ///
    /// A path is the context name and the members read from it, as written (compare ignoring
    /// case, as GitHub does): `github.event.issue.title`. An index by a string literal is written
    /// as a member (`github['head_ref']` is `github.head_ref`; a key that is not an identifier
    /// stays `github['a b']`). A wildcard is `*`, and so is an index by anything else (a number,
    /// another expression), since it may select any element: `github.event.commits[0].message`
    /// and `github.event.commits.*.message` both read `github.event.commits.*.message`. Paths
    /// read inside an index expression are listed too. Members of a function's result
    /// (`fromJSON(x).a`) are not context paths; the function's arguments are searched instead.
    pub fn context_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = vec![self];
        while let Some(expr) = pending.pop() {
            match access_path(expr, &mut pending) {
                Some(path) => {
                    if !out.contains(&path) {
                        out.push(path);
                    }
                }
                None => match &expr.kind {
                    ExprKind::Not(operand) => pending.push(operand),
                    ExprKind::Binary { lhs, rhs, .. } => {
                        pending.push(rhs);
                        pending.push(lhs);
                    }
                    ExprKind::Call { args, .. } => pending.extend(args.iter().rev()),
                    _ => {}
                },
            }
        }
        out
    }
}

/// The path of an access chain rooted at a context, queueing the index expressions met on the
/// way. For a chain rooted elsewhere, queues its root and returns `None`.
fn access_path<'e>(expr: &'e Expr, pending: &mut Vec<&'e Expr>) -> Option<String> {
    let mut members: Vec<String> = Vec::new();
    let mut current = expr;
    loop {
        match &current.kind {
            ExprKind::NamedValue(name) => {
                let mut path = name.clone();
                for member in members.iter().rev() {
                    path.push_str(member.as_str());
                }
                return Some(path);
            }
            ExprKind::Property { target, name } => {
                members.push(member(name));
                current = target;
            }
            ExprKind::Wildcard { target } => {
                members.push(".*".to_string());
                current = target;
            }
            ExprKind::Index { target, index } => {
                match &index.kind {
                    ExprKind::String(key) => members.push(member(key)),
                    _ => {
                        members.push(".*".to_string());
                        pending.push(index);
                    }
                }
                current = target;
            }
            _ if members.is_empty() => return None,
            _ => {
                pending.push(current);
                return None;
            }
        }
    }
}

fn member(name: &str) -> String {
    if is_legal_keyword(name) {
        format!(".{name}")
    } else {
        format!("['{}']", name.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{parse, ParseOptions};

    fn paths(source: &str) -> Vec<String> {
        let options = ParseOptions::allow_all(["github", "inputs", "matrix", "env"]);
        match parse(source, &options) {
            Ok(expr) => expr.context_paths(),
            Err(e) => panic!("{source}: {e}"),
        }
    }

    #[test]
    fn lists_member_chains() {
        assert_eq!(
            paths("github.event.issue.title"),
            ["github.event.issue.title"]
        );
        assert_eq!(
            paths("format('{0} {1}', github.head_ref, env.X) == github.head_ref"),
            ["github.head_ref", "env.X"]
        );
    }

    #[test]
    fn string_indexes_become_members() {
        assert_eq!(paths("github['head_ref']"), ["github.head_ref"]);
        assert_eq!(paths("github['event']['a b']"), ["github.event['a b']"]);
    }

    #[test]
    fn wildcards_and_other_indexes_are_stars() {
        assert_eq!(
            paths("join(github.event.commits.*.message)"),
            ["github.event.commits.*.message"]
        );
        assert_eq!(
            paths("github.event.commits[0].message"),
            ["github.event.commits.*.message"]
        );
        assert_eq!(paths("matrix[inputs.key]"), ["matrix.*", "inputs.key"]);
    }

    #[test]
    fn members_of_function_results_are_not_context_paths() {
        assert_eq!(paths("fromJSON(inputs.json).title"), ["inputs.json"]);
        assert_eq!(paths("(github).sha"), ["github.sha"]);
        assert!(paths("success() && 'x'").is_empty());
    }
}
