//! [`JobNetwork`]: one job's network namespace, links, rules, resolver and report, from
//! creation to teardown.
//!
//! Must never: leave anything behind it made (teardown, `Drop`, and a failed creation all
//! remove every object named for the job), or change a host setting.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use super::addressing::{Addressing, JobNames, Slot, PREFIX4, PREFIX6};
use super::allowlist::AllowEntry;
use super::cleanup::remove_slot_leftovers;
use super::command::{IP, NFT};
use super::config::{GuestLink, GuestNet, NetworkConfig, Uplink};
use super::error::EgressError;
use super::links;
use super::monitor::{Listeners, LogReader, Monitor};
use super::netns::{Netns, NETNS_DIR};
use super::nflog::NflogSocket;
use super::policy::EgressMode;
use super::report::{EgressReport, Journal};
use super::resolver::sets::LearnedSets;
use super::resolver::Resolver;
use super::ruleset::{apply, job_ruleset, uplink_ruleset, LOG_GROUP};

/// A job's network: a namespace of its own whose only way out is the uplink, through
/// nftables rules that allow the policy's allowlist and drop (or, in audit mode, let through)
/// the rest, with hrun's resolver as the guest's only DNS, and a report of every attempt.
///
/// ```no_run
/// use hermetic::egress::{EgressMode, EgressPolicy, GuestLink, JobNetwork, NetworkConfig, Uplink};
/// # fn demo() -> Result<(), hermetic::egress::EgressError> {
/// hermetic::egress::cleanup_leftovers()?;
/// let policy = EgressPolicy::parse(EgressMode::BlockAndFail, ["*.github.com:443"])?;
/// let network = JobNetwork::create(&NetworkConfig::new(policy, Uplink::Host), GuestLink::Tap)?;
/// let mut qemu = std::process::Command::new("qemu-system-x86_64");
/// network.prepare_command(&mut qemu); // QEMU finds the tap `network.guest().tap` there
/// // ... run the job ...
/// let report = network.report();
/// let failures = network.failures();
/// network.teardown()?;
/// # Ok(()) }
/// ```
///
/// With an empty allowlist there is no `JobNetwork` ([`EgressError::NoAllowlist`]): the VM
/// then gets no network device at all.
#[derive(Debug)]
pub struct JobNetwork {
    names: JobNames,
    addressing: Addressing,
    link: GuestLink,
    mode: EgressMode,
    ipv6: bool,
    uplink: Netns,
    job: Option<Netns>,
    guest: Option<Netns>,
    journal: Arc<Mutex<Journal>>,
    log: Option<Arc<LogReader>>,
    monitor: Option<Monitor>,
    slot: Option<Slot>,
}

impl JobNetwork {
    /// Makes the job network: call [`cleanup_leftovers`](super::cleanup_leftovers) once when the
    /// runner starts. Needs root (`CAP_NET_ADMIN` and `CAP_SYS_ADMIN`), `ip` and `nft`.
    pub fn create(config: &NetworkConfig, link: GuestLink) -> Result<Self, EgressError> {
        let policy = &config.policy;
        if !policy.needs_network() {
            return Err(EgressError::NoAllowlist);
        }
        let has_names = policy
            .allow
            .iter()
            .any(|entry| matches!(entry, AllowEntry::Name { .. }));
        if has_names && config.upstream_dns.is_empty() {
            return Err(EgressError::NoUpstreamDns);
        }
        for tool in [IP, NFT] {
            if tool.locate().is_none() {
                return Err(EgressError::ToolMissing {
                    tool: tool.program,
                    package: tool.package,
                });
            }
        }
        let (uplink, ipv6) = match &config.uplink {
            Uplink::Host => {
                let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                    .map_err(|err| EgressError::io("reading net.ipv4.ip_forward", err))?;
                check_host_forwarding(&forwarding)?;
                // Without IPv6 forwarding on the host, the job gets no IPv6 (never turned on
                // by hrun: it would change how the host treats router advertisements).
                let ipv6 = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding")
                    .is_ok_and(|value| value.trim() == "1");
                (Netns::current()?, ipv6)
            }
            Uplink::Netns(name) => {
                let uplink = Netns::open(name)?;
                let ipv6 = uplink.run(links::has_ipv6)?;
                (uplink, ipv6)
            }
        };
        let slot = Slot::acquire()?;
        remove_slot_leftovers(slot.index(), &uplink);
        let journal = Arc::new(Mutex::new(Journal::new(policy.clone(), ipv6)));
        let mut network = JobNetwork {
            names: JobNames::new(std::process::id(), slot.index()),
            addressing: Addressing::new(slot.index()),
            link,
            mode: policy.mode,
            ipv6,
            uplink,
            job: None,
            guest: None,
            journal,
            log: None,
            monitor: None,
            slot: Some(slot),
        };
        // On failure `network` is dropped, which removes whatever was made.
        network.build(config)?;
        Ok(network)
    }

    fn build(&mut self, config: &NetworkConfig) -> Result<(), EgressError> {
        let job = Netns::create(&self.names.netns)?;
        self.job = Some(job.clone());
        if self.link == GuestLink::Netns {
            let guest = Netns::create(&self.names.guest_netns)?;
            links::configure_guest_namespace(&guest, self.ipv6)?;
            self.guest = Some(guest);
        }
        links::configure_job_namespace(&job, self.ipv6)?;
        links::connect_uplink(&self.uplink, &job, &self.names, self.addressing, self.ipv6)?;
        links::attach_guest(
            &job,
            self.guest.as_ref(),
            &self.names,
            self.link,
            self.addressing,
            self.ipv6,
        )?;
        apply(
            &job_ruleset(&config.policy, links::guest_side_if(self.link)),
            &job,
        )?;
        apply(
            &uplink_ruleset(
                &self.names.netns,
                &self.names.uplink_link,
                self.addressing.guest_net4(),
                self.ipv6.then(|| self.addressing.guest_net6()),
            ),
            &self.uplink,
        )?;

        let mut resolver_addresses = vec![IpAddr::V4(self.addressing.gateway4())];
        if self.ipv6 {
            resolver_addresses.push(IpAddr::V6(self.addressing.gateway6()));
        }
        let (nflog, listeners) = job.run(|| -> Result<_, EgressError> {
            let nflog = NflogSocket::open(LOG_GROUP)
                .map_err(|err| EgressError::io("opening the NFLOG socket", err))?;
            let mut listeners = Listeners {
                udp: Vec::new(),
                tcp: Vec::new(),
            };
            for addr in &resolver_addresses {
                let at = SocketAddr::new(*addr, 53);
                let bound = |err| EgressError::io(format!("binding the resolver to {at}"), err);
                listeners.udp.push(UdpSocket::bind(at).map_err(bound)?);
                listeners.tcp.push(TcpListener::bind(at).map_err(bound)?);
            }
            Ok((nflog, listeners))
        })??;
        let log = Arc::new(LogReader::new(nflog, Arc::clone(&self.journal)));
        self.log = Some(Arc::clone(&log));
        let resolver = Arc::new(Resolver::new(
            config.policy.clone(),
            config.upstream_dns.clone(),
            Arc::clone(&self.journal),
            LearnedSets::new(job),
        ));
        self.monitor = Some(Monitor::start(&self.uplink, listeners, resolver, log)?);
        Ok(())
    }

    /// The job namespace's name (`hrun-<pid>-<slot>`).
    pub fn name(&self) -> &str {
        &self.names.netns
    }

    /// The job namespace's path, for `setns` or `ip netns exec`.
    pub fn netns_path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.names.netns)
    }

    /// Makes `command`'s process start inside the job namespace (QEMU, to find the tap).
    /// The process keeps the namespace alive: end it before [`teardown`](Self::teardown).
    pub fn prepare_command(&self, command: &mut Command) {
        if let Some(job) = &self.job {
            job.enter_before_exec(command);
        }
    }

    /// What the guest's side needs: tap or namespace, MAC, addresses, gateway, DNS.
    pub fn guest(&self) -> GuestNet {
        let a = self.addressing;
        GuestNet {
            tap: (self.link == GuestLink::Tap).then(|| links::guest_side_if(self.link).to_string()),
            guest_netns: (self.link == GuestLink::Netns)
                .then(|| Path::new(NETNS_DIR).join(&self.names.guest_netns)),
            mac: a.guest_mac(),
            address: a.guest4(),
            prefix: PREFIX4,
            gateway: a.gateway4(),
            gateway_mac: a.gateway_mac(),
            dns: a.gateway4(),
            address6: self.ipv6.then(|| a.guest6()),
            prefix6: PREFIX6,
            gateway6: self.ipv6.then(|| a.gateway6()),
        }
    }

    /// Every attempt so far, including packets the kernel logged an instant ago.
    pub fn report(&self) -> EgressReport {
        if let Some(log) = &self.log {
            log.drain();
        }
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .report(0)
    }

    /// In `block-and-fail` mode, one line per denied attempt (each becomes an annotation and
    /// fails the job); empty in the other modes.
    pub fn failures(&self) -> Vec<String> {
        if self.mode != EgressMode::BlockAndFail {
            return Vec::new();
        }
        self.report()
            .denied()
            .map(|attempt| attempt.summary())
            .collect()
    }

    /// Stops the resolver and the log reader and removes the namespaces, links and tables.
    pub fn teardown(mut self) -> Result<(), EgressError> {
        let problems = self.remove_everything();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EgressError::Teardown {
                name: self.names.netns.clone(),
                problems,
            })
        }
    }

    /// Runs `f` on a thread inside the guest namespace ([`GuestLink::Netns`] only).
    #[cfg(test)]
    pub(crate) fn run_in_guest<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Option<T> {
        self.guest.as_ref()?.run(f).ok()
    }

    fn remove_everything(&mut self) -> Vec<String> {
        if self.slot.is_none() {
            return Vec::new();
        }
        if let Some(mut monitor) = self.monitor.take() {
            monitor.stop();
        }
        // Every descriptor of the job namespace is closed before it is removed, so that the
        // kernel frees it at once.
        self.log = None;
        self.job = None;
        self.guest = None;
        let problems = links::remove(&self.names, &self.uplink);
        self.slot = None;
        problems
    }
}

impl Drop for JobNetwork {
    fn drop(&mut self) {
        let _ = self.remove_everything();
    }
}

/// Fails unless `ip_forward` (the content of `/proc/sys/net/ipv4/ip_forward`) says IPv4
/// forwarding is on.
pub(crate) fn check_host_forwarding(ip_forward: &str) -> Result<(), EgressError> {
    if ip_forward.trim() == "1" {
        Ok(())
    } else {
        Err(EgressError::HostForwardingOff)
    }
}
