//! Egress enforcement for a job: what it may reach is decided and enforced on the host, outside
//! the VM, where nothing the job runs can undo it.
//!
//! A job with a non-empty allowlist gets a [`JobNetwork`]: a network namespace of its own
//! (`hrun-<runner pid>-<slot>`) linked to the uplink (the host, or a namespace given by
//! [`Uplink::Netns`]) by a veth pair and to the guest by a tap (QEMU, started inside the
//! namespace) or a veth into a guest namespace. nftables rules in the job namespace drop every
//! new connection from the guest (IPv4 and IPv6) unless the allowlist covers it; established
//! traffic passes first. hrun's own resolver, on the guest's gateway, is the only DNS the guest
//! can reach: it answers allowlisted names from the upstream resolvers and allows the answered
//! addresses for the record's TTL, and answers NXDOMAIN to every other name without forwarding
//! it. Every attempt, allowed or not, goes into the job's [`EgressReport`]. A job without an
//! allowlist gets no network at all (no NIC in the VM, no `JobNetwork`).
//!
//! | module        | holds                                                           |
//! |---------------|-----------------------------------------------------------------|
//! | `allowlist`   | one entry: forms, canonical text, coverage                      |
//! | `policy`      | mode + allowlist; narrowing by a workflow file                  |
//! | `config`      | uplink, guest link, upstream resolvers, what the guest is told  |
//! | `addressing`  | per-job slot (a `flock`), subnets and names                     |
//! | `netns`, `command`, `links` | namespaces, `ip`/`nft` runs, veth/tap/routes      |
//! | `ruleset/`    | the nftables rules (JSON through the `nftables` crate), `nft`   |
//! | `nflog`, `packet` | logged packets from the kernel, and their headers           |
//! | `resolver/`   | the DNS resolver: decisions, upstream, learned sets             |
//! | `monitor`     | the thread polling the log socket and the resolver's sockets    |
//! | `report`      | attempts, verdicts, the JSON report                             |
//! | `job`, `cleanup` | [`JobNetwork`]'s life; leftovers of killed runners           |
//!
//! What a VM executor does: [`cleanup_leftovers`] once at start; per job with an allowlist,
//! [`JobNetwork::create`] with [`GuestLink::Tap`], QEMU started through
//! [`JobNetwork::prepare_command`] with a NIC on [`GuestNet::tap`] and the guest configured from
//! [`JobNetwork::guest`] (address, gateway, DNS; the guest's resolv.conf must have no `search`
//! line, or every search-suffixed name is a denied query); at the end, after QEMU is gone,
//! [`JobNetwork::report`] (a file beside result.json), [`JobNetwork::failures`] (job failures
//! in `block-and-fail`) and [`JobNetwork::teardown`].
//!
//! Limits: an address answered for an allowlisted name is allowed for every name it serves
//! (shared hosting) until its TTL ends; with [`Uplink::Host`], a host firewall that drops
//! forwarded traffic (iptables `FORWARD DROP`) must let the job's veth through.
//!
//! Must never: let a workflow widen the runner's allowlist, forward a query for a name outside
//! it while blocking, accept a new connection without logging it, or change a host setting.

mod addressing;
mod allowlist;
mod cleanup;
mod command;
mod config;
mod error;
mod job;
mod links;
mod monitor;
mod netns;
mod nflog;
mod packet;
mod policy;
mod report;
mod resolver;
mod ruleset;
#[cfg(any(test, feature = "test-world"))]
pub mod test_world;
#[cfg(test)]
mod tests;

pub use allowlist::{AllowEntry, EntryError, NamePattern};
pub use cleanup::{cleanup_leftovers, cleanup_leftovers_in};
pub use config::{nameservers_of_resolv_conf, GuestLink, GuestNet, NetworkConfig, Uplink};
pub use error::EgressError;
pub use job::JobNetwork;
pub use policy::{EgressMode, EgressPolicy, PolicyError};
pub use report::{Attempt, EgressReport, Protocol, Verdict};
