//! The runner's configuration file and a repository's egress file.
//!
//! The runner's file (`--config FILE`, else `$HRUN_CONFIG`, else `/etc/hrun/config.toml` when it
//! exists) is written by whoever runs the runner: the egress allowlist and mode every job starts
//! from, the resolvers hrun's DNS resolver asks, where job traffic leaves, the size of each
//! job's virtual machine, and the key that signs each job's evidence (`hrun run` writes
//! evidence only when one is configured; relative paths are read from the file's directory).
//!
//! ```toml
//! [egress]
//! mode = "block"                       # audit | block | block-and-fail
//! allow = ["pypi.org:443", "*.pythonhosted.org:443", "10.0.0.0/8"]
//! upstream_dns = ["192.0.2.53"]        # default: the host's /etc/resolv.conf
//! uplink_netns = "world"               # default: the host's own namespace
//!
//! [vm]
//! vcpus = 2
//! memory_mib = 2048
//! disk_mib = 8192
//!
//! [evidence]
//! signing_key = "/etc/hrun/signing.key"  # PKCS#8 PEM, `hrun keys generate`
//! audit_dir = "/var/lib/hrun/audit"      # default: $HRUN_AUDIT_DIR, else $HRUN_CACHE/audit
//! ```
//!
//! A repository may only narrow that allowlist, in `.github/hrun-egress.toml`: top-level `mode`
//! and `allow` for all its workflows, and `[workflows."<file name>"]` tables that replace them for
//! one workflow. Every entry must be covered by the runner's and the mode may only be stricter;
//! anything else is an error naming the file, line and column (see [`EgressPolicy::narrow`]).
//!
//! Must never: widen the runner's allowlist from anything a repository holds.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use actions_compat::source_text::line_col;
use hermetic::egress::{AllowEntry, EgressMode, EgressPolicy, EntryError, PolicyError};

/// Where the runner looks for its file when neither `--config` nor `$HRUN_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/hrun/config.toml";

/// The repository's egress file, relative to its root.
pub const EGRESS_FILE: &str = ".github/hrun-egress.toml";

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

/// The runner's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// The allowlist and mode every job starts from (empty: no network).
    pub egress: EgressPolicy,
    /// Resolvers for allowlisted names; `None`: the host's `/etc/resolv.conf`.
    pub upstream_dns: Option<Vec<SocketAddr>>,
    /// The network namespace job traffic leaves through; `None`: the host's.
    pub uplink_netns: Option<String>,
    /// Virtual machine sizes.
    pub vm: VmSizes,
    /// Where each job's evidence is signed and recorded.
    pub evidence: EvidenceConfig,
}

/// The `[evidence]` table: paths already made absolute against the file's directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceConfig {
    /// The PKCS#8 PEM key that signs provenance, evidence and audit checkpoints.
    pub signing_key: Option<PathBuf>,
    /// The audit log's directory.
    pub audit_dir: Option<PathBuf>,
}

/// How big each job's virtual machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmSizes {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_mib: u64,
}

impl Default for VmSizes {
    fn default() -> Self {
        VmSizes {
            vcpus: 2,
            memory_mib: 2048,
            disk_mib: 8192,
        }
    }
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            path: None,
            egress: EgressPolicy {
                mode: EgressMode::Block,
                allow: Vec::new(),
            },
            upstream_dns: None,
            uplink_netns: None,
            vm: VmSizes::default(),
            evidence: EvidenceConfig::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    egress: Option<RawEgress>,
    vm: Option<RawVm>,
    evidence: Option<RawEvidence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvidence {
    signing_key: Option<PathBuf>,
    audit_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEgress {
    mode: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    upstream_dns: Option<Vec<Spanned<String>>>,
    uplink_netns: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVm {
    vcpus: Option<Spanned<u32>>,
    memory_mib: Option<Spanned<u64>>,
    disk_mib: Option<Spanned<u64>>,
}

/// Errors at a byte offset of one file's text.
struct FileText<'a> {
    path: &'a Path,
    text: &'a str,
}

impl FileText<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let (line, col) = line_col(self.text, offset);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|err| {
            self.error(
                err.span().map_or(0, |span| span.start),
                err.message().trim_end(),
            )
        })
    }

    fn mode(&self, mode: &Spanned<String>) -> Result<EgressMode, ConfigError> {
        mode.get_ref()
            .parse()
            .map_err(|e: PolicyError| self.error(mode.span().start, e.to_string()))
    }

    /// The entries read one by one, so an error names the entry's place; duplicates kept once.
    fn policy(
        &self,
        mode: EgressMode,
        entries: &[Spanned<String>],
    ) -> Result<EgressPolicy, ConfigError> {
        let mut allow: Vec<AllowEntry> = Vec::with_capacity(entries.len());
        for entry in entries {
            let parsed: AllowEntry = entry
                .get_ref()
                .parse()
                .map_err(|e: EntryError| self.error(entry.span().start, e.to_string()))?;
            if !allow.contains(&parsed) {
                allow.push(parsed);
            }
        }
        Ok(EgressPolicy { mode, allow })
    }
}

impl RunnerConfig {
    /// The file to read: `explicit`, else `$HRUN_CONFIG`, else [`DEFAULT_CONFIG_PATH`] when it
    /// exists. `None`: run with the defaults (no network, default VM sizes).
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_path_buf());
        }
        if let Some(path) = std::env::var_os("HRUN_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        let default = Path::new(DEFAULT_CONFIG_PATH);
        default.exists().then(|| default.to_path_buf())
    }

    /// Reads the file `locate` finds, or the defaults when there is none.
    pub fn load(explicit: Option<&Path>) -> Result<RunnerConfig, ConfigError> {
        match RunnerConfig::locate(explicit) {
            None => Ok(RunnerConfig::default()),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                RunnerConfig::parse(&text, &path)
            }
        }
    }

    /// Validates a configuration file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RunnerConfig, ConfigError> {
        let file = FileText { path, text };
        let raw: RawConfig = file.parse()?;
        let mut config = RunnerConfig {
            path: Some(path.to_path_buf()),
            ..RunnerConfig::default()
        };
        if let Some(egress) = raw.egress {
            let mode = match &egress.mode {
                Some(mode) => file.mode(mode)?,
                None => EgressMode::Block,
            };
            config.egress = file.policy(mode, &egress.allow)?;
            if let Some(servers) = egress.upstream_dns {
                let mut parsed = Vec::with_capacity(servers.len());
                for server in &servers {
                    parsed.push(parse_server(server.get_ref()).ok_or_else(|| {
                        file.error(
                            server.span().start,
                            format!(
                                "`{}` is not a resolver address (an IP address, with an optional port)",
                                server.get_ref()
                            ),
                        )
                    })?);
                }
                config.upstream_dns = Some(parsed);
            }
            config.uplink_netns = egress.uplink_netns;
        }
        if let Some(vm) = raw.vm {
            let positive = |value: &Spanned<u64>, what: &str| {
                if *value.get_ref() == 0 {
                    Err(file.error(value.span().start, format!("{what} must be at least 1")))
                } else {
                    Ok(*value.get_ref())
                }
            };
            if let Some(vcpus) = &vm.vcpus {
                if *vcpus.get_ref() == 0 {
                    return Err(file.error(vcpus.span().start, "vcpus must be at least 1"));
                }
                config.vm.vcpus = *vcpus.get_ref();
            }
            if let Some(memory) = &vm.memory_mib {
                config.vm.memory_mib = positive(memory, "memory_mib")?;
            }
            if let Some(disk) = &vm.disk_mib {
                config.vm.disk_mib = positive(disk, "disk_mib")?;
            }
        }
        if let Some(evidence) = raw.evidence {
            let base = path.parent().unwrap_or(Path::new("."));
            config.evidence = EvidenceConfig {
                signing_key: evidence.signing_key.map(|p| base.join(p)),
                audit_dir: evidence.audit_dir.map(|p| base.join(p)),
            };
        }
        Ok(config)
    }
}

/// `192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53` or `[2001:db8::53]:5353`.
fn parse_server(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEgressFile {
    mode: Option<Spanned<String>>,
    allow: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    workflows: std::collections::BTreeMap<String, RawWorkflowEgress>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflowEgress {
    mode: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
}

/// The egress policy a job of `workflow_file` (its file name, `ci.yml`) runs with: the runner's,
/// narrowed by the repository's egress file at `repo_root` when there is one.
pub fn job_egress(
    runner: &EgressPolicy,
    repo_root: &Path,
    workflow_file: &str,
) -> Result<EgressPolicy, ConfigError> {
    let path = repo_root.join(EGRESS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(runner.clone()),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    narrow_by_file(runner, &text, &path, workflow_file)
}

/// [`job_egress`] on a file's text.
fn narrow_by_file(
    runner: &EgressPolicy,
    text: &str,
    path: &Path,
    workflow_file: &str,
) -> Result<EgressPolicy, ConfigError> {
    let file = FileText { path, text };
    let raw: RawEgressFile = file.parse()?;
    let (mode, allow) = match raw.workflows.get(workflow_file) {
        Some(own) => (own.mode.as_ref(), Some(own.allow.as_slice())),
        None => (raw.mode.as_ref(), raw.allow.as_deref()),
    };
    let mode_value = match mode {
        Some(mode) => file.mode(mode)?,
        None => runner.mode,
    };
    let Some(allow) = allow else {
        // Only the mode is narrowed: the runner's entries stay.
        let wanted = EgressPolicy {
            mode: mode_value,
            allow: runner.allow.clone(),
        };
        return runner
            .narrow(&wanted)
            .map_err(|e| file.error(mode.map_or(0, |m| m.span().start), e.to_string()));
    };
    let wanted = file.policy(mode_value, allow)?;
    runner.narrow(&wanted).map_err(|e| {
        let offset = match &e {
            PolicyError::NotCovered { entry } => allow
                .iter()
                .find(|a| {
                    a.get_ref()
                        .parse::<AllowEntry>()
                        .is_ok_and(|parsed| parsed.to_string() == *entry)
                })
                .map_or(0, |a| a.span().start),
            _ => mode.map_or(0, |m| m.span().start),
        };
        file.error(
            offset,
            format!("{e} (the runner's configuration allows no more)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(mode: EgressMode, entries: &[&str]) -> EgressPolicy {
        EgressPolicy::parse(mode, entries).unwrap()
    }

    #[test]
    fn reads_every_section_of_the_runner_file() {
        let text = "[egress]\nmode = \"block-and-fail\"\nallow = [\"pypi.org:443\", \"10.0.0.0/8\"]\nupstream_dns = [\"192.0.2.53\", \"[2001:db8::1]:5353\"]\nuplink_netns = \"world\"\n\n[vm]\nvcpus = 1\nmemory_mib = 512\ndisk_mib = 1024\n";
        let c = RunnerConfig::parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(c.egress.mode, EgressMode::BlockAndFail);
        assert_eq!(c.egress.allow.len(), 2);
        assert_eq!(
            c.upstream_dns,
            Some(vec![
                "192.0.2.53:53".parse().unwrap(),
                "[2001:db8::1]:5353".parse().unwrap()
            ])
        );
        assert_eq!(c.uplink_netns.as_deref(), Some("world"));
        assert_eq!(
            c.vm,
            VmSizes {
                vcpus: 1,
                memory_mib: 512,
                disk_mib: 1024
            }
        );
    }

    #[test]
    fn evidence_paths_are_read_from_the_files_directory() {
        let text =
            "[evidence]\nsigning_key = \"keys/signer.key\"\naudit_dir = \"/var/lib/hrun/audit\"\n";
        let c = RunnerConfig::parse(text, Path::new("/etc/hrun/config.toml")).unwrap();
        assert_eq!(
            c.evidence.signing_key.as_deref(),
            Some(Path::new("/etc/hrun/keys/signer.key"))
        );
        assert_eq!(
            c.evidence.audit_dir.as_deref(),
            Some(Path::new("/var/lib/hrun/audit"))
        );
        let none = RunnerConfig::parse("", Path::new("c.toml")).unwrap();
        assert_eq!(none.evidence, EvidenceConfig::default());
    }

    #[test]
    fn an_empty_file_means_no_network_and_default_sizes() {
        let c = RunnerConfig::parse("", Path::new("c.toml")).unwrap();
        assert!(!c.egress.needs_network());
        assert_eq!(c.vm, VmSizes::default());
    }

    #[test]
    fn bad_entries_are_reported_at_their_place() {
        let text = "[egress]\nallow = [\"pypi.org:443\",\n  \"no such entry!\"]\n";
        let e = RunnerConfig::parse(text, Path::new("c.toml")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("c.toml:3:3: "), "{shown}");
    }

    #[test]
    fn unknown_keys_and_modes_are_refused_with_their_place() {
        let e = RunnerConfig::parse("[egress]\nmod = \"block\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:1: ") && e.contains("mod"), "{e}");
        let e = RunnerConfig::parse("[egress]\nmode = \"open\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:8: ") && e.contains("open"), "{e}");
        let e = RunnerConfig::parse("[vm]\nvcpus = 0\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:9: "), "{e}");
    }

    #[test]
    fn a_repository_narrows_the_allowlist_and_may_tighten_the_mode() {
        let base = runner(
            EgressMode::Block,
            &["*.pythonhosted.org:443", "pypi.org:443"],
        );
        let text = "mode = \"block-and-fail\"\nallow = [\"files.pythonhosted.org:443\"]\n";
        let p = narrow_by_file(&base, text, Path::new("e.toml"), "ci.yml").unwrap();
        assert_eq!(p.mode, EgressMode::BlockAndFail);
        assert_eq!(p.entries_as_text(), ["files.pythonhosted.org:443"]);
    }

    #[test]
    fn a_workflow_table_replaces_the_repository_default_for_that_workflow() {
        let base = runner(EgressMode::Block, &["pypi.org:443", "10.0.0.0/8"]);
        let text =
            "allow = [\"pypi.org:443\"]\n[workflows.\"deploy.yml\"]\nallow = [\"10.1.0.0/16\"]\n";
        let ci = narrow_by_file(&base, text, Path::new("e.toml"), "ci.yml").unwrap();
        assert_eq!(ci.entries_as_text(), ["pypi.org:443"]);
        let deploy = narrow_by_file(&base, text, Path::new("e.toml"), "deploy.yml").unwrap();
        assert_eq!(deploy.entries_as_text(), ["10.1.0.0/16"]);
    }

    #[test]
    fn a_repository_cannot_widen_the_allowlist_or_loosen_the_mode() {
        let base = runner(EgressMode::Block, &["pypi.org:443"]);
        let text = "allow = [\"pypi.org:443\",\n\"evil.example:443\"]\n";
        let e = narrow_by_file(&base, text, Path::new("e.toml"), "ci.yml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("e.toml:2:1: ") && e.contains("evil.example"),
            "{e}"
        );
        let e = narrow_by_file(&base, "mode = \"audit\"\n", Path::new("e.toml"), "ci.yml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("e.toml:1:8: "), "{e}");
    }

    #[test]
    fn without_a_repository_file_the_runner_policy_holds() {
        let base = runner(EgressMode::Audit, &["pypi.org:443"]);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(job_egress(&base, dir.path(), "ci.yml").unwrap(), base);
    }
}
