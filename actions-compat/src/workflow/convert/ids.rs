//! Job and step identifiers: which are valid, and the ids GitHub generates for steps written
//! without one (`__run`, `__actions_checkout`, `__run_2`...).

use std::collections::{HashMap, HashSet};

/// Ids must be shorter than this.
const MAX_LENGTH: usize = 100;
/// Generated ids give up after this many collisions.
const MAX_ATTEMPTS: usize = 1000;

/// The ids taken in one scope (a job's steps) and the generator of new ones. Ids compare
/// without case, as GitHub compares them.
#[derive(Debug, Default)]
pub(crate) struct IdScope {
    taken: HashSet<String>,
    /// For each name generated from, the attempt that gave its last id: every earlier attempt
    /// is taken (ids are never released), so the next search starts after it. Without this a
    /// job of n steps without ids would cost n² attempts.
    last_attempt: HashMap<String, usize>,
}

impl IdScope {
    /// Records an id written in the file, or says why it is refused (GitHub's messages).
    pub fn add_known(&mut self, id: &str) -> Result<(), String> {
        check_id(id)?;
        if !self.taken.insert(id.to_lowercase()) {
            return Err(format!(
                "The identifier '{id}' may not be used more than once within the same scope."
            ));
        }
        Ok(())
    }

    /// Generates a new id from `segment` (`__run`, `__actions_checkout`): characters other than
    /// letters, digits, `_` and `-` become `_`, and a counter (`_2`, `_3`...) avoids ids taken.
    pub fn generate(&mut self, segment: &str) -> String {
        let mut name = String::new();
        if let Some(first) = segment.chars().next() {
            if first.is_ascii_digit() || first == '-' {
                name.push('_');
            }
        }
        for c in segment.chars() {
            name.push(if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            });
        }
        if name.is_empty() {
            name.push_str("job");
        }
        let first = self.last_attempt.get(&name).map_or(1, |a| a + 1);
        for attempt in first..MAX_ATTEMPTS {
            let suffix = if attempt == 1 {
                String::new()
            } else {
                format!("_{attempt}")
            };
            let keep = MAX_LENGTH.saturating_sub(suffix.len());
            let candidate: String = name.chars().take(keep).chain(suffix.chars()).collect();
            if self.taken.insert(candidate.to_lowercase()) {
                self.last_attempt.insert(name, attempt);
                return candidate;
            }
        }
        // Unreachable with fewer than MAX_ATTEMPTS steps; keep the id unique anyway.
        format!("{name}_{}", self.taken.len())
    }
}

/// Checks an id's form: letters, digits, `_` and `-`, starting with a letter or `_`, shorter
/// than 100 characters, and not starting with the reserved `__`.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let valid_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_first || !valid_rest || id.chars().count() >= MAX_LENGTH {
        return Err(format!(
            "The identifier '{id}' is invalid. IDs may only contain alphanumeric characters, '_', \
             and '-'. IDs must start with a letter or '_' and and must be less than {MAX_LENGTH} \
             characters."
        ));
    }
    if id.starts_with("__") {
        return Err(format!(
            "The identifier '{id}' is invalid. IDs starting with '__' are reserved."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses_ids_as_github_does() {
        for ok in ["_", "_a", "a__", "my-job", "myjob-", "_my-job0"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "my.job", "0myjob", " myjob", "-myjob", "my%job"] {
            assert!(
                check_id(bad).unwrap_err().contains("IDs may only contain"),
                "{bad}"
            );
        }
        assert!(check_id("__a").unwrap_err().contains("reserved"));
        assert!(check_id(&"a".repeat(100)).is_err());
        assert!(check_id(&"a".repeat(99)).is_ok());
    }

    #[test]
    fn refuses_ids_used_twice_without_regard_to_case() {
        let mut scope = IdScope::default();
        scope.add_known("step1").unwrap();
        assert_eq!(
            scope.add_known("STEP1").unwrap_err(),
            "The identifier 'STEP1' may not be used more than once within the same scope."
        );
    }

    #[test]
    fn generates_consecutive_counters_for_many_steps_of_each_name() {
        let mut scope = IdScope::default();
        let mut ids = Vec::new();
        for _ in 0..300 {
            ids.push(scope.generate("__run"));
            ids.push(scope.generate("__actions_checkout"));
        }
        assert_eq!(
            ids.get(..4),
            Some(
                &[
                    "__run",
                    "__actions_checkout",
                    "__run_2",
                    "__actions_checkout_2"
                ]
                .map(String::from)[..]
            )
        );
        assert_eq!(
            ids.get(598..),
            Some(&["__run_300", "__actions_checkout_300"].map(String::from)[..])
        );
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn generates_ids_with_counters_around_taken_ones() {
        let mut scope = IdScope::default();
        scope.add_known("__run_x").ok();
        assert_eq!(scope.generate("__run"), "__run");
        assert_eq!(scope.generate("__run"), "__run_2");
        assert_eq!(
            scope.generate("__org with space/repo"),
            "__org_with_space_repo"
        );
        assert_eq!(
            scope.generate("__Actions/Capitalized"),
            "__Actions_Capitalized"
        );
        assert_eq!(
            scope.generate("__actions/capitalized"),
            "__actions_capitalized_2"
        );
    }
}
