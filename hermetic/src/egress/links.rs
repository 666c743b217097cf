//! The links of a job network, made and removed with `ip`:
//!
//! ```text
//!  uplink namespace                 job namespace hrun-<pid>-<k>           guest
//!  hr<pid>n<k> 198.18.x.1/30 ─veth─ up0 198.18.x.2/30
//!  route guest /30 via .2           gateway 198.18.x.5/30 on tap0 ──────── QEMU's virtio-net
//!  masquerade (ruleset)                               or on gw0 ─veth───── eth0 198.18.x.6/30
//!                                                                          in hrun-<pid>-<k>-g
//! ```
//!
//! The job namespace forwards (its own sysctl, not the host's) and routes the guest's subnet
//! without translation; the uplink routes it back and masquerades it when it leaves. IPv6
//! follows the same plan with unique local addresses, without duplicate address detection
//! (the addresses are unique by construction and must work at once). Every MAC address is
//! fixed per slot, and every neighbour hrun configures is a permanent entry: the first packet
//! of a job never waits for neighbour discovery (whose first IPv6 solicitation on a fresh veth
//! was seen to go missing, delaying a connection by a second).
//!
//! Must never: change a host-wide setting (the only sysctl written in the uplink namespace is
//! the job's own veth's `accept_dad`), or leave a link behind when removal is asked for.

use std::net::IpAddr;
use std::path::Path;

use super::addressing::{
    Addressing, JobNames, GUEST_IF, JOB_GUEST_VETH_IF, JOB_TAP_IF, JOB_UPLINK_IF, PREFIX4, PREFIX6,
};
use super::command::{ip_batch, ip_netns_args, is_already_gone, IP};
use super::config::GuestLink;
use super::error::EgressError;
use super::netns::{self, Netns};
use super::ruleset::{apply, delete_table};

fn write_sysctl(path: &str, value: &str) -> Result<(), EgressError> {
    std::fs::write(path, value).map_err(|err| EgressError::io(format!("writing {path}"), err))
}

/// Whether the calling thread's namespace has IPv6 at all.
pub(crate) fn has_ipv6() -> bool {
    Path::new("/proc/sys/net/ipv6").exists()
}

/// Turns forwarding on inside the job namespace and duplicate address detection off for its
/// future interfaces.
pub(crate) fn configure_job_namespace(job: &Netns, ipv6: bool) -> Result<(), EgressError> {
    job.run(|| {
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        if ipv6 {
            write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
            write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0")?;
        }
        Ok(())
    })?
}

/// Turns duplicate address detection off for the guest namespace's future interfaces.
pub(crate) fn configure_guest_namespace(guest: &Netns, ipv6: bool) -> Result<(), EgressError> {
    if !ipv6 {
        return Ok(());
    }
    guest.run(|| write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0"))?
}

/// The veth pair between the uplink and the job namespace, its addresses and routes.
pub(crate) fn connect_uplink(
    uplink: &Netns,
    job: &Netns,
    names: &JobNames,
    addressing: Addressing,
    ipv6: bool,
) -> Result<(), EgressError> {
    let link = names.uplink_link.as_str();
    let (uplink_mac, job_mac) = (addressing.uplink_mac(), addressing.job_mac());
    let mut args = ip_netns_args(uplink);
    args.extend([
        "link",
        "add",
        link,
        "address",
        &uplink_mac,
        "type",
        "veth",
        "peer",
        "name",
        JOB_UPLINK_IF,
        "address",
        &job_mac,
        "netns",
        names.netns.as_str(),
    ]);
    IP.run(&args, None, None)?;
    if ipv6 {
        let path = format!("/proc/sys/net/ipv6/conf/{link}/accept_dad");
        uplink.run(|| write_sysctl(&path, "0"))??;
    }
    let mut outside = vec![format!(
        "addr add {}/{PREFIX4} dev {link}",
        addressing.uplink4()
    )];
    if ipv6 {
        outside.push(format!(
            "addr add {}/{PREFIX6} dev {link} nodad",
            addressing.uplink6()
        ));
    }
    outside.push(format!("link set {link} up"));
    outside.push(neighbour(addressing.job4().into(), &job_mac, link));
    if ipv6 {
        outside.push(neighbour(addressing.job6().into(), &job_mac, link));
    }
    outside.push(format!(
        "route add {} via {} dev {link}",
        addressing.guest_net4(),
        addressing.job4()
    ));
    if ipv6 {
        outside.push(format!(
            "route add {} via {} dev {link}",
            addressing.guest_net6(),
            addressing.job6()
        ));
    }
    ip_batch(uplink, &outside)?;

    let mut inside = vec![
        "link set lo up".to_string(),
        format!(
            "addr add {}/{PREFIX4} dev {JOB_UPLINK_IF}",
            addressing.job4()
        ),
    ];
    if ipv6 {
        inside.push(format!(
            "addr add {}/{PREFIX6} dev {JOB_UPLINK_IF} nodad",
            addressing.job6()
        ));
    }
    inside.push(format!("link set {JOB_UPLINK_IF} up"));
    inside.push(neighbour(
        addressing.uplink4().into(),
        &uplink_mac,
        JOB_UPLINK_IF,
    ));
    if ipv6 {
        inside.push(neighbour(
            addressing.uplink6().into(),
            &uplink_mac,
            JOB_UPLINK_IF,
        ));
    }
    inside.push(format!("route add default via {}", addressing.uplink4()));
    if ipv6 {
        inside.push(format!("route add default via {}", addressing.uplink6()));
    }
    ip_batch(job, &inside)
}

/// The guest's side: a tap in the job namespace, or a veth into the guest namespace with the
/// guest's addresses and routes.
pub(crate) fn attach_guest(
    job: &Netns,
    guest: Option<&Netns>,
    names: &JobNames,
    link: GuestLink,
    addressing: Addressing,
    ipv6: bool,
) -> Result<(), EgressError> {
    let device = guest_side_if(link);
    let (gateway_mac, guest_mac) = (addressing.gateway_mac(), addressing.guest_mac());
    let mut inside = match link {
        GuestLink::Tap => vec![
            format!("tuntap add dev {device} mode tap"),
            format!("link set {device} address {gateway_mac}"),
        ],
        GuestLink::Netns => vec![format!(
            "link add {device} address {gateway_mac} type veth peer name {GUEST_IF} \
             address {guest_mac} netns {}",
            names.guest_netns
        )],
    };
    inside.push(format!(
        "addr add {}/{PREFIX4} dev {device}",
        addressing.gateway4()
    ));
    if ipv6 {
        inside.push(format!(
            "addr add {}/{PREFIX6} dev {device} nodad",
            addressing.gateway6()
        ));
    }
    inside.push(format!("link set {device} up"));
    inside.push(neighbour(addressing.guest4().into(), &guest_mac, device));
    if ipv6 {
        inside.push(neighbour(addressing.guest6().into(), &guest_mac, device));
    }
    ip_batch(job, &inside)?;

    let Some(guest) = guest else {
        return Ok(());
    };
    let mut lines = vec![
        "link set lo up".to_string(),
        format!("addr add {}/{PREFIX4} dev {GUEST_IF}", addressing.guest4()),
    ];
    if ipv6 {
        lines.push(format!(
            "addr add {}/{PREFIX6} dev {GUEST_IF} nodad",
            addressing.guest6()
        ));
    }
    lines.push(format!("link set {GUEST_IF} up"));
    lines.push(neighbour(
        addressing.gateway4().into(),
        &gateway_mac,
        GUEST_IF,
    ));
    if ipv6 {
        lines.push(neighbour(
            addressing.gateway6().into(),
            &gateway_mac,
            GUEST_IF,
        ));
    }
    lines.push(format!("route add default via {}", addressing.gateway4()));
    if ipv6 {
        lines.push(format!("route add default via {}", addressing.gateway6()));
    }
    ip_batch(guest, &lines)
}

/// An `ip` batch line: a permanent neighbour entry.
fn neighbour(addr: IpAddr, mac: &str, device: &str) -> String {
    format!("neigh replace {addr} lladdr {mac} dev {device} nud permanent")
}

/// The guest side's interface in the job namespace.
pub(crate) fn guest_side_if(link: GuestLink) -> &'static str {
    match link {
        GuestLink::Tap => JOB_TAP_IF,
        GuestLink::Netns => JOB_GUEST_VETH_IF,
    }
}

/// Removes everything named for a job: the uplink's veth (its peer and routes go with it), the
/// uplink's table, the guest and job namespaces (with the tap or veth in them). What is already
/// gone is skipped; what cannot be removed is returned.
pub(crate) fn remove(names: &JobNames, uplink: &Netns) -> Vec<String> {
    let mut problems = Vec::new();
    let mut args = ip_netns_args(uplink);
    args.extend(["link", "del", names.uplink_link.as_str()]);
    match IP.run(&args, None, None) {
        Err(err) if !is_already_gone(&err) => problems.push(err.to_string()),
        _ => {}
    }
    match apply(&delete_table(&names.netns), uplink) {
        Err(err) if !is_already_gone(&err) => problems.push(err.to_string()),
        _ => {}
    }
    for name in [&names.guest_netns, &names.netns] {
        if let Err(err) = netns::delete(name) {
            problems.push(err.to_string());
        }
    }
    problems
}
