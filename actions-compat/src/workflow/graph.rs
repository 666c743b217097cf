//! The order jobs run in: the graph `needs:` makes of a workflow's jobs.
//!
//! A job may start once every job it needs has finished. Jobs ready together are taken in the
//! order the file lists them, so every walk of the graph is the same on every run. The graph only
//! orders: whether a job whose dependency failed still runs is its `if:` condition's decision
//! (GitHub skips it unless the condition calls a status function such as `always()` or
//! `failure()`), so the graph hands out each job's [`Condition`] and its dependants, and the
//! engine evaluates.
//!
//! Job ids compare ignoring ASCII case, as GitHub compares them in `needs:`. The parser refuses
//! unknown needs and cycles; a graph built from a workflow that has them anyway does not panic:
//! the jobs involved, and the jobs after them, are [`JobGraph::blocked`] and never ready.
//!
//! ```
//! use std::collections::HashSet;
//! use actions_compat::workflow::{self, graph::JobGraph};
//! let src = "on: push\njobs:\n  test:\n    needs: build\n    runs-on: x\n    steps: [{run: t}]\n  build:\n    runs-on: x\n    steps: [{run: b}]\n  lint:\n    runs-on: x\n    steps: [{run: l}]\n";
//! let graph = JobGraph::new(&workflow::parse(src, "ci.yml").unwrap());
//! assert_eq!(graph.order(), ["build", "test", "lint"]);
//! let mut finished = HashSet::new();
//! assert_eq!(graph.ready(&finished), ["build", "lint"]);
//! finished.insert("build");
//! assert_eq!(graph.ready(&finished), ["test", "lint"]);
//! ```

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::hash::Hash;

use super::model::{Condition, Workflow};

/// The jobs of a workflow and the `needs:` between them.
#[derive(Debug, Clone, PartialEq)]
pub struct JobGraph {
    /// In file order.
    jobs: Vec<Node>,
    /// Indexes into `jobs`, in the order the jobs may run.
    order: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    id: String,
    /// The jobs this one needs, as indexes into `jobs`, in the order written.
    needs: Vec<usize>,
    /// Needs naming no job of the workflow (the parser refuses them).
    unknown_needs: usize,
    /// The jobs that need this one, as indexes into `jobs`, in file order.
    needed_by: Vec<usize>,
    condition: Condition,
}

impl JobGraph {
    /// The graph of a workflow's jobs.
    pub fn new(workflow: &Workflow) -> JobGraph {
        let ids: Vec<&str> = workflow.jobs.iter().map(|j| j.id.value.as_str()).collect();
        let mut jobs: Vec<Node> = workflow
            .jobs
            .iter()
            .map(|job| {
                let mut needs = Vec::new();
                let mut unknown_needs = 0;
                for need in &job.needs {
                    match find(&ids, &need.value) {
                        Some(i) if !needs.contains(&i) => needs.push(i),
                        Some(_) => {}
                        None => unknown_needs += 1,
                    }
                }
                Node {
                    id: job.id.value.clone(),
                    needs,
                    unknown_needs,
                    needed_by: Vec::new(),
                    condition: job.condition.clone(),
                }
            })
            .collect();
        let edges: Vec<(usize, usize)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(i, job)| job.needs.iter().map(move |&n| (n, i)))
            .collect();
        for (needed, by) in edges {
            if let Some(needed) = jobs.get_mut(needed) {
                needed.needed_by.push(by);
            }
        }
        let order = topological_order(&jobs);
        JobGraph { jobs, order }
    }

    /// The job ids, in file order.
    pub fn ids(&self) -> Vec<&str> {
        self.jobs.iter().map(|j| j.id.as_str()).collect()
    }

    /// The number of jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether the workflow has no jobs.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Every job that can run, in an order where each comes after the jobs it needs; among jobs
    /// free to go at the same point, the one written first comes first.
    pub fn order(&self) -> Vec<&str> {
        self.order.iter().map(|&i| self.id(i)).collect()
    }

    /// The jobs that can never run, in file order: those in a `needs` cycle, those needing an
    /// unknown job, and those after them. Empty for any workflow the parser accepted.
    pub fn blocked(&self) -> Vec<&str> {
        let ordered: HashSet<usize> = self.order.iter().copied().collect();
        self.jobs
            .iter()
            .enumerate()
            .filter(|(i, _)| !ordered.contains(i))
            .map(|(_, j)| j.id.as_str())
            .collect()
    }

    /// The jobs that may start now: not in `finished`, and needing only jobs in `finished`; in
    /// file order. `finished` holds ids as this graph spells them; jobs already started are the
    /// caller's to leave out.
    pub fn ready<S>(&self, finished: &HashSet<S>) -> Vec<&str>
    where
        S: Borrow<str> + Eq + Hash,
    {
        self.jobs
            .iter()
            .filter(|job| {
                job.unknown_needs == 0
                    && !finished.contains(job.id.as_str())
                    && job.needs.iter().all(|&n| finished.contains(self.id(n)))
            })
            .map(|job| job.id.as_str())
            .collect()
    }

    /// The ids of the jobs `id` needs, in the order written; `None` for an unknown job.
    pub fn needs(&self, id: &str) -> Option<Vec<&str>> {
        let job = self.node(id)?;
        Some(job.needs.iter().map(|&n| self.id(n)).collect())
    }

    /// The `if:` condition of job `id` (`success()` when none was written), which decides whether
    /// it runs after a dependency failed or was skipped; `None` for an unknown job.
    pub fn condition(&self, id: &str) -> Option<&Condition> {
        self.node(id).map(|job| &job.condition)
    }

    /// Every job that needs `id`, directly or through other jobs, in the order they may run
    /// (then any blocked ones, in file order): the jobs a failure of `id` may skip.
    pub fn dependants(&self, id: &str) -> Vec<&str> {
        let Some(start) = find(&self.ids(), id) else {
            return Vec::new();
        };
        let mut reached = vec![false; self.jobs.len()];
        let mut todo = vec![start];
        while let Some(done) = todo.pop() {
            for &i in self.needed_by(done) {
                if !reached[i] {
                    reached[i] = true;
                    todo.push(i);
                }
            }
        }
        let mut ordered = vec![false; self.jobs.len()];
        for &i in &self.order {
            ordered[i] = true;
        }
        let blocked = (0..self.jobs.len()).filter(|&i| !ordered[i]);
        self.order
            .iter()
            .copied()
            .chain(blocked)
            .filter(|&i| reached[i])
            .map(|i| self.id(i))
            .collect()
    }

    /// The id of the job at `index` (indexes come from this graph, so the job is there).
    fn id(&self, index: usize) -> &str {
        self.jobs.get(index).map_or("", |j| j.id.as_str())
    }

    fn needed_by(&self, index: usize) -> &[usize] {
        self.jobs.get(index).map_or(&[], |j| &j.needed_by)
    }

    fn node(&self, id: &str) -> Option<&Node> {
        find(&self.ids(), id).and_then(|i| self.jobs.get(i))
    }
}

/// The index of job `id` among `ids`: an exact match first, then one ignoring ASCII case.
fn find(ids: &[&str], id: &str) -> Option<usize> {
    ids.iter()
        .position(|j| *j == id)
        .or_else(|| ids.iter().position(|j| j.eq_ignore_ascii_case(id)))
}

/// Kahn's algorithm, always taking the ready job written first. Jobs in a cycle or needing an
/// unknown job never become ready and are left out.
fn topological_order(jobs: &[Node]) -> Vec<usize> {
    let mut waiting: Vec<usize> = jobs
        .iter()
        .map(|j| j.needs.len() + j.unknown_needs)
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, &w)| w == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(jobs.len());
    while let Some(Reverse(done)) = ready.pop() {
        order.push(done);
        for &i in jobs.get(done).map_or(&[][..], |j| &j.needed_by) {
            if let Some(w) = waiting.get_mut(i) {
                *w -= 1;
                if *w == 0 {
                    ready.push(Reverse(i));
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::model::{Job, Spanned};

    fn parse(src: &str) -> Workflow {
        crate::workflow::parse(src, "ci.yml").unwrap()
    }

    /// A workflow of runner jobs, each given as `(id, needs)`; built by hand so that the graph
    /// sees what the parser would refuse.
    fn jobs(spec: &[(&str, &[&str])]) -> Workflow {
        let mut workflow = parse("on: push\njobs:\n  x:\n    runs-on: x\n    steps: [{run: x}]\n");
        let template = workflow.jobs[0].clone();
        workflow.jobs = spec
            .iter()
            .map(|(id, needs)| Job {
                id: Spanned::new((*id).to_owned(), 1, 1),
                needs: needs
                    .iter()
                    .map(|n| Spanned::new((*n).to_owned(), 1, 1))
                    .collect(),
                ..template.clone()
            })
            .collect();
        workflow
    }

    fn set(ids: &[&'static str]) -> HashSet<&'static str> {
        ids.iter().copied().collect()
    }

    #[test]
    fn orders_dependencies_first_and_ties_in_file_order() {
        let w = jobs(&[
            ("deploy", &["test", "build"]),
            ("test", &["build"]),
            ("lint", &[]),
            ("build", &[]),
            ("docs", &[]),
        ]);
        let graph = JobGraph::new(&w);
        assert_eq!(graph.order(), ["lint", "build", "test", "deploy", "docs"]);
        assert!(graph.blocked().is_empty());
    }

    #[test]
    fn ready_lists_jobs_whose_needs_all_finished_in_file_order() {
        let w = jobs(&[
            ("deploy", &["test", "build"]),
            ("test", &["build"]),
            ("lint", &[]),
            ("build", &[]),
        ]);
        let graph = JobGraph::new(&w);
        assert_eq!(graph.ready(&set(&[])), ["lint", "build"]);
        assert_eq!(graph.ready(&set(&["build"])), ["test", "lint"]);
        assert_eq!(graph.ready(&set(&["build", "test"])), ["deploy", "lint"]);
        assert!(graph
            .ready(&set(&["build", "test", "lint", "deploy"]))
            .is_empty());
    }

    #[test]
    fn ready_accepts_owned_ids() {
        let graph = JobGraph::new(&jobs(&[("a", &[]), ("b", &["a"])]));
        let finished: HashSet<String> = ["a".to_owned()].into();
        assert_eq!(graph.ready(&finished), ["b"]);
    }

    #[test]
    fn needs_match_job_ids_ignoring_case() {
        let graph = JobGraph::new(&jobs(&[("Build", &[]), ("test", &["BUILD", "build"])]));
        assert_eq!(graph.needs("test"), Some(vec!["Build"]));
        assert_eq!(graph.order(), ["Build", "test"]);
        assert_eq!(graph.ready(&set(&["Build"])), ["test"]);
    }

    #[test]
    fn dependants_are_transitive_and_in_run_order() {
        let w = jobs(&[
            ("report", &["deploy"]),
            ("deploy", &["test"]),
            ("test", &["build"]),
            ("build", &[]),
            ("lint", &[]),
        ]);
        let graph = JobGraph::new(&w);
        assert_eq!(graph.dependants("build"), ["test", "deploy", "report"]);
        assert_eq!(graph.dependants("deploy"), ["report"]);
        assert!(graph.dependants("lint").is_empty());
        assert!(graph.dependants("nope").is_empty());
    }

    #[test]
    fn cycles_and_unknown_needs_block_without_panicking() {
        let w = jobs(&[
            ("a", &[]),
            ("b", &["c"]),
            ("c", &["b"]),
            ("d", &["c"]),
            ("e", &["ghost"]),
            ("self", &["self"]),
        ]);
        let graph = JobGraph::new(&w);
        assert_eq!(graph.order(), ["a"]);
        assert_eq!(graph.blocked(), ["b", "c", "d", "e", "self"]);
        assert_eq!(graph.ready(&set(&["a"])), Vec::<&str>::new());
        assert_eq!(graph.dependants("b"), ["b", "c", "d"]);
    }

    #[test]
    fn exposes_each_jobs_condition_for_the_engine_to_evaluate() {
        let src = "on: push\njobs:\n  build:\n    runs-on: x\n    steps: [{run: b}]\n  notify:\n    needs: build\n    if: always()\n    runs-on: x\n    steps: [{run: n}]\n  test:\n    needs: build\n    if: github.ref == 'main'\n    runs-on: x\n    steps: [{run: t}]\n";
        let graph = JobGraph::new(&parse(src));
        assert_eq!(graph.condition("build").unwrap().expression, "success()");
        assert_eq!(graph.condition("notify").unwrap().expression, "always()");
        assert_eq!(
            graph.condition("test").unwrap().expression,
            "success() && (github.ref == 'main')"
        );
        assert!(graph.condition("ghost").is_none());
        assert_eq!(graph.dependants("build"), ["notify", "test"]);
    }

    #[test]
    fn empty_workflow_jobs_give_an_empty_graph() {
        let graph = JobGraph::new(&jobs(&[]));
        assert!(graph.is_empty());
        assert_eq!(graph.len(), 0);
        assert!(graph.order().is_empty());
        assert!(graph.ready(&set(&[])).is_empty());
    }

    #[test]
    fn reusable_jobs_are_ordered_like_runner_jobs() {
        let src = "on: push\njobs:\n  call:\n    needs: prep\n    uses: ./.github/workflows/x.yml\n  prep:\n    runs-on: x\n    steps: [{run: p}]\n";
        let graph = JobGraph::new(&parse(src));
        assert_eq!(graph.order(), ["prep", "call"]);
    }
}
