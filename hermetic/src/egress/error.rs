//! Why a job network could not be made, inspected or removed.
//!
//! Must never: carry traffic of the job (payloads, DNS answers) in a message; only names of
//! namespaces, links and the commands that failed.

use std::io;

use super::policy::PolicyError;

/// A job network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The policy is unusable.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The allowlist is empty: the job gets no network at all, so there is nothing to make.
    #[error(
        "the egress allowlist is empty: give the job no network device instead of a job network"
    )]
    NoAllowlist,
    /// The allowlist holds names but no upstream resolver is configured.
    #[error(
        "the egress allowlist holds DNS names but no upstream resolver is configured \
         (none found in /etc/resolv.conf)"
    )]
    NoUpstreamDns,
    /// The host does not forward IPv4, so a job's traffic could not leave through it.
    #[error(
        "IPv4 forwarding is off on this host (sysctl net.ipv4.ip_forward = 0): jobs with an \
         egress allowlist need it; enable it with `sysctl -w net.ipv4.ip_forward=1` (and in \
         /etc/sysctl.d to keep it), hrun does not change host settings itself"
    )]
    HostForwardingOff,
    /// A tool hrun runs (`ip`, `nft`) is not installed.
    #[error("`{tool}` not found: job networks need it (Debian package `{package}`)")]
    ToolMissing {
        /// The program.
        tool: &'static str,
        /// The Debian package that holds it.
        package: &'static str,
    },
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What hrun was doing.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// Every job subnet is in use.
    #[error("all {0} job subnets are in use")]
    SubnetsExhausted(u32),
    /// The nftables ruleset could not be encoded (a bug).
    #[error("cannot encode the nftables ruleset: {0}")]
    Encode(String),
    /// Some of the job network could not be removed.
    #[error("job network {name} was not fully removed: {}", problems.join("; "))]
    Teardown {
        /// The job namespace's name.
        name: String,
        /// What could not be removed, and why.
        problems: Vec<String>,
    },
}

impl EgressError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        EgressError::Io {
            what: what.into(),
            source,
        }
    }
}
