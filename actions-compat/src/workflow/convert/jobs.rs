//! `jobs:`: each job, and the graph `needs:` makes of them (unknown jobs, cycles, and a job to
//! start with).

use super::values::entries;
use super::Converter;
use crate::schema::token::Token;
use crate::workflow::model::Job;

impl Converter<'_> {
    pub(crate) fn jobs(&mut self, token: &Token) -> Vec<Job> {
        let jobs: Vec<Job> = entries(token)
            .iter()
            .map(|(key, value)| self.job(key, value))
            .collect();
        self.check_needs(token, &jobs);
        jobs
    }

    /// Runs the jobs in dependency order, as GitHub plans them: a job starts once every job it
    /// needs has finished. The needs never satisfied name unknown jobs or close a cycle.
    fn check_needs(&mut self, token: &Token, jobs: &[Job]) {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let mut ready: Vec<&str> = jobs
            .iter()
            .filter(|j| j.needs.is_empty())
            .map(|j| j.id.value.as_str())
            .collect();
        if ready.is_empty() {
            self.error_at(
                token,
                "The workflow must contain at least one job with no dependencies.",
            );
            return;
        }
        // The needs of each job not yet ready, by index into `jobs`.
        let mut waiting: Vec<(usize, Vec<usize>)> = jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| !j.needs.is_empty())
            .map(|(i, j)| (i, (0..j.needs.len()).collect()))
            .collect();
        while let Some(done) = ready.pop() {
            waiting.retain_mut(|(job, needs)| {
                needs.retain(|&n| !same(&jobs[*job].needs[n].value, done));
                if needs.is_empty() {
                    ready.push(&jobs[*job].id.value);
                    false
                } else {
                    true
                }
            });
        }
        for (job, needs) in waiting {
            let job = &jobs[job];
            for n in needs {
                let need = &job.needs[n];
                let message = if jobs.iter().any(|j| same(&j.id.value, &need.value)) {
                    format!(
                        "Job '{}' depends on job '{}' which creates a cycle in the dependency graph.",
                        job.id.value, need.value
                    )
                } else {
                    format!(
                        "Job '{}' depends on unknown job '{}'.",
                        job.id.value, need.value
                    )
                };
                self.error(need.line, need.col, message);
            }
        }
    }
}
