//! One step's sweeps: each process's environment and command line searched, what the step was
//! given told apart from what it leaked, each finding kept once.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::procfs::{cmdline_args, environ_entries, EnvEntry, ProcDir, ProcStatus, MAX_FILE};
use super::{
    SweepConfig, SweepFinding, SweepLocation, SweepMatch, SweepPhase, SweepReport, HIDDEN_NAME,
};
use crate::scan::{KnownSecrets, Scanner};

/// Most findings one step keeps (the report says when there were more).
pub const MAX_FINDINGS: usize = 256;

/// Longest variable or process name shown, in characters.
const MAX_NAME_CHARS: usize = 128;

/// Most sweeps after the step's main process ended, and the pause between two.
const SETTLE_ROUNDS: usize = 4;
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// What a sweep read of one process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessView<'a> {
    /// The pid as the step sees it.
    pub pid: i32,
    pub comm: &'a [u8],
    /// `/proc/<pid>/environ` as read.
    pub environ: &'a [u8],
    /// `/proc/<pid>/cmdline` as read.
    pub cmdline: &'a [u8],
}

/// A variable the step was given: its value, and which secrets it holds.
struct Given {
    value: Zeroizing<Vec<u8>>,
    secrets: Vec<usize>,
}

/// The sweeps of one step.
pub struct StepSweeper {
    secrets: Arc<KnownSecrets>,
    rules: Option<Arc<Scanner>>,
    /// The step's environment, by name.
    given: HashMap<Vec<u8>, Given>,
    /// A digest of what was last searched of each live pid: unchanged, it is not searched again.
    last: HashMap<i32, u64>,
    reported: HashSet<(i32, SweepLocation, SweepMatch)>,
    unreadable: HashSet<i32>,
    report: SweepReport,
}

impl std::fmt::Debug for StepSweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepSweeper")
            .field("secrets", &self.secrets.len())
            .field("given", &self.given.len())
            .field("findings", &self.report.findings.len())
            .finish()
    }
}

/// One thing found in a buffer, before it becomes a finding.
struct Hit {
    start: usize,
    end: usize,
    found: SweepMatch,
    /// For a rule's match: the bytes matched are in a variable given with them.
    given_bytes: bool,
    secret: Option<usize>,
}

impl StepSweeper {
    /// Sweeps for `config`, of a step started with the environment `env`.
    pub fn new<'a>(
        config: &SweepConfig,
        env: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> StepSweeper {
        let secrets = Arc::clone(&config.secrets);
        let given = env
            .into_iter()
            .map(|(name, value)| {
                let held: Vec<usize> = secrets.find(value).iter().map(|h| h.secret).collect();
                (
                    name.to_vec(),
                    Given {
                        value: Zeroizing::new(value.to_vec()),
                        secrets: held,
                    },
                )
            })
            .collect();
        StepSweeper {
            secrets,
            rules: config.rules.clone(),
            given,
            last: HashMap::new(),
            reported: HashSet::new(),
            unreadable: HashSet::new(),
            report: SweepReport::default(),
        }
    }

    /// Records why sweeps were partial (the first reason is kept).
    pub fn note(&mut self, note: impl Into<String>) {
        self.report.note.get_or_insert_with(|| note.into());
    }

    /// The findings so far.
    pub fn findings(&self) -> &[SweepFinding] {
        &self.report.findings
    }

    /// Everything the sweeps found.
    pub fn finish(mut self) -> SweepReport {
        self.report.unreadable = self.unreadable.len() as u64;
        std::mem::take(&mut self.report)
    }

    /// One sweep of the processes of `dir` that `select` accepts (given the pid as listed and
    /// the process's status). A process that ends meanwhile is skipped.
    pub fn sweep(
        &mut self,
        dir: &ProcDir,
        select: &dyn Fn(i32, &ProcStatus) -> bool,
        phase: SweepPhase,
    ) {
        self.report.sweeps += 1;
        let pids = match dir.pids() {
            Ok(pids) => pids,
            Err(e) => {
                self.note(format!("the processes could not be listed: {e}"));
                return;
            }
        };
        let mut alive = HashSet::new();
        for pid in pids {
            let Ok(status) = dir.status(pid) else {
                continue;
            };
            if status.dead || !select(pid, &status) {
                continue;
            }
            let (environ, cmdline) = match (
                read_process_file(dir, pid, "environ"),
                read_process_file(dir, pid, "cmdline"),
            ) {
                (Ok(Some(e)), Ok(Some(c))) => (e, c),
                (Ok(None), _) | (_, Ok(None)) => continue,
                _ => {
                    self.unreadable.insert(pid);
                    continue;
                }
            };
            alive.insert(pid);
            if environ.is_empty() && cmdline.is_empty() {
                // A process that just ended (its memory is gone) or a kernel thread.
                continue;
            }
            self.examine(
                &ProcessView {
                    pid,
                    comm: &status.name,
                    environ: &environ,
                    cmdline: &cmdline,
                },
                phase,
            );
        }
        self.last.retain(|pid, _| alive.contains(pid));
    }

    /// The last sweep, once the step's main process has ended: repeated a few milliseconds
    /// apart (at most [`SETTLE_ROUNDS`] times) while it finds a process it had not seen as it is
    /// now. A background process the step started just before it ended may still be between
    /// `fork` and `exec`, showing the shell's environment instead of its own; a step that left
    /// nothing costs one listing.
    pub fn sweep_after_exit(&mut self, dir: &ProcDir, select: &dyn Fn(i32, &ProcStatus) -> bool) {
        for round in 1..=SETTLE_ROUNDS {
            let before = self.report.processes;
            self.sweep(dir, select, SweepPhase::AfterExit);
            if self.report.processes == before || round == SETTLE_ROUNDS {
                return;
            }
            std::thread::sleep(SETTLE_PAUSE);
        }
    }

    /// Searches what was read of one process.
    pub fn examine(&mut self, process: &ProcessView<'_>, phase: SweepPhase) {
        let digest = content_digest(process);
        if self.last.insert(process.pid, digest) == Some(digest) {
            return;
        }
        self.report.processes += 1;
        let comm = self.shown(process.comm);
        self.examine_environ(process, &comm, phase);
        self.examine_cmdline(process, &comm, phase);
    }

    fn examine_environ(&mut self, process: &ProcessView<'_>, comm: &str, phase: SweepPhase) {
        let raw = process.environ;
        let entries = environ_entries(raw);
        let text = separated(raw, b'\n');
        let hits = self.hits(&text, "environ");
        // A name that holds (the start of) a match is not shown, in any finding of its entry.
        let hidden: HashSet<usize> = hits
            .iter()
            .filter_map(|h| {
                let i = entry_at(&entries, h.start)?;
                let e = entries.get(i)?;
                (h.start < e.value_start).then_some(i)
            })
            .collect();
        for hit in hits {
            let Some(i) = entry_at(&entries, hit.start) else {
                continue;
            };
            let Some(entry) = entries.get(i) else {
                continue;
            };
            let name = entry.name(raw);
            if hit.start >= entry.value_start && self.is_given(name, &hit, &text) {
                continue;
            }
            let variable = if hidden.contains(&i) {
                HIDDEN_NAME.to_owned()
            } else {
                limited(name)
            };
            self.push(SweepFinding {
                pid: process.pid,
                comm: comm.to_owned(),
                location: SweepLocation::Environ { variable },
                found: hit.found,
                phase,
            });
        }
    }

    fn examine_cmdline(&mut self, process: &ProcessView<'_>, comm: &str, phase: SweepPhase) {
        let raw = process.cmdline;
        let args = cmdline_args(raw);
        let text = separated(raw, b' ');
        for hit in self.hits(&text, "cmdline") {
            let index = args.partition_point(|(start, _)| *start <= hit.start);
            let argument = u32::try_from(index.saturating_sub(1)).unwrap_or(u32::MAX);
            self.push(SweepFinding {
                pid: process.pid,
                comm: comm.to_owned(),
                location: SweepLocation::Cmdline { argument },
                found: hit.found,
                phase,
            });
        }
    }

    /// The job's secrets and the rule pack's tokens in `text`.
    fn hits(&self, text: &[u8], label: &str) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self
            .secrets
            .find(text)
            .into_iter()
            .map(|h| Hit {
                start: h.start,
                end: h.end,
                found: SweepMatch::Secret {
                    name: self.secrets.name(h.secret).unwrap_or("?").to_owned(),
                },
                given_bytes: false,
                secret: Some(h.secret),
            })
            .collect();
        if let Some(rules) = &self.rules {
            for f in rules.scan_bytes(text, label) {
                let start = usize::try_from(f.offset).unwrap_or(usize::MAX);
                let end = start.saturating_add(usize::try_from(f.length).unwrap_or(0));
                hits.push(Hit {
                    start,
                    end,
                    found: SweepMatch::Rule {
                        rule: f.rule,
                        description: f.description,
                        fingerprint: f.fingerprint.to_string(),
                    },
                    given_bytes: true,
                    secret: None,
                });
            }
        }
        hits.sort_by_key(|h| h.start);
        hits
    }

    /// Whether the step was given variable `name` holding what `hit` found: the same secret,
    /// or (for a rule's match) the same bytes.
    fn is_given(&self, name: &[u8], hit: &Hit, text: &[u8]) -> bool {
        let Some(given) = self.given.get(name) else {
            return false;
        };
        if let Some(secret) = hit.secret {
            return given.secrets.contains(&secret);
        }
        if hit.given_bytes {
            let matched = text.get(hit.start..hit.end).unwrap_or_default();
            return !matched.is_empty()
                && memchr::memmem::find(given.value.as_slice(), matched).is_some();
        }
        false
    }

    /// A process's name as shown: hidden when it spells a secret or a token.
    fn shown(&self, name: &[u8]) -> String {
        let token = self
            .rules
            .as_ref()
            .is_some_and(|r| !r.scan_bytes(name, "comm").is_empty());
        if token || self.secrets.contains_any(name) {
            HIDDEN_NAME.to_owned()
        } else {
            limited(name)
        }
    }

    fn push(&mut self, finding: SweepFinding) {
        let key = (finding.pid, finding.location.clone(), finding.found.clone());
        if !self.reported.insert(key) {
            return;
        }
        if self.report.findings.len() < MAX_FINDINGS {
            self.report.findings.push(finding);
        } else {
            self.report.truncated = true;
        }
    }
}

/// `<pid>/<file>`: `Ok(None)` when the process has vanished, `Err` when it cannot be read.
fn read_process_file(
    dir: &ProcDir,
    pid: i32,
    file: &str,
) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    match dir.read(pid, file, MAX_FILE) {
        Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `raw` with its NUL separators turned into `sep` (same length, same offsets), so the rule
/// pack sees entries as lines (environ) or words (cmdline).
fn separated(raw: &[u8], sep: u8) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(raw.iter().map(|&b| if b == 0 { sep } else { b }).collect())
}

/// The index of the entry that holds offset `at` (the one before it, when `at` is a separator).
fn entry_at(entries: &[EnvEntry], at: usize) -> Option<usize> {
    entries.partition_point(|e| e.start <= at).checked_sub(1)
}

/// A name as shown: lossy UTF-8, at most [`MAX_NAME_CHARS`] characters.
fn limited(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    if text.chars().count() <= MAX_NAME_CHARS {
        text.into_owned()
    } else {
        let mut cut: String = text.chars().take(MAX_NAME_CHARS).collect();
        cut.push('…');
        cut
    }
}

fn content_digest(process: &ProcessView<'_>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    process.comm.hash(&mut h);
    process.environ.hash(&mut h);
    process.cmdline.hash(&mut h);
    h.finish()
}
