//! Removing what killed runners left behind: namespaces, uplink veths and uplink tables named
//! `hrun-<pid>-<slot>` / `hr<pid>n<slot>` whose runner pid no longer exists.
//!
//! A runner that is killed cannot tear its job networks down. Its slot locks are released by
//! the kernel, and what is left is recognisable by name. [`cleanup_leftovers`] runs when a
//! runner starts; [`JobNetwork::create`](super::JobNetwork::create) also clears whatever is
//! left on the slot it just locked (nothing live can be on a locked slot).
//!
//! Must never: touch an object whose owner is alive (another runner's, or a test's), or one
//! whose name does not follow the pattern exactly.

use std::path::Path;

use super::addressing::owner_of;
use super::command::{ip_netns_args, IP, NFT};
use super::config::Uplink;
use super::error::EgressError;
use super::netns::{self, Netns};
use super::ruleset::{apply, delete_table, list_inet_tables};

fn is_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the job networks of runners that are gone, with the host as their uplink. Returns
/// what was removed, one line each. Call it when the runner starts.
pub fn cleanup_leftovers() -> Result<Vec<String>, EgressError> {
    cleanup_leftovers_in(&Uplink::Host)
}

/// [`cleanup_leftovers`] for job networks whose uplink was `uplink`.
pub fn cleanup_leftovers_in(uplink: &Uplink) -> Result<Vec<String>, EgressError> {
    if IP.locate().is_none() {
        // Without `ip`, no job network was ever made here.
        return Ok(Vec::new());
    }
    let uplink = match uplink {
        Uplink::Host => Netns::current()?,
        Uplink::Netns(name) => Netns::open(name)?,
    };
    let stale = |name: &str| owner_of(name).is_some_and(|(pid, _)| !is_alive(pid));
    remove_matching(&uplink, stale)
}

/// Removes whatever is named for `slot`, whoever made it: called with the slot's lock held.
pub(crate) fn remove_slot_leftovers(slot: u32, uplink: &Netns) {
    let _ = remove_matching(uplink, |name| {
        owner_of(name).is_some_and(|(_, owner_slot)| owner_slot == slot)
    });
}

fn remove_matching(
    uplink: &Netns,
    matches: impl Fn(&str) -> bool,
) -> Result<Vec<String>, EgressError> {
    let mut removed = Vec::new();
    let mut problems = Vec::new();
    for link in uplink_links(uplink)?
        .into_iter()
        .filter(|name| matches(name))
    {
        let mut args = ip_netns_args(uplink);
        args.extend(["link", "del", link.as_str()]);
        match IP.run(&args, None, None) {
            Ok(_) => removed.push(format!("link {link}")),
            Err(err) => problems.push(err.to_string()),
        }
    }
    if NFT.locate().is_some() {
        for table in list_inet_tables(uplink)?
            .into_iter()
            .filter(|name| matches(name))
        {
            match apply(&delete_table(&table), uplink) {
                Ok(()) => removed.push(format!("nftables table inet {table}")),
                Err(err) => problems.push(err.to_string()),
            }
        }
    }
    for name in netns::list_named().into_iter().filter(|name| matches(name)) {
        match netns::delete(&name) {
            Ok(()) => removed.push(format!("network namespace {name}")),
            Err(err) => problems.push(err.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(removed)
    } else {
        Err(EgressError::Teardown {
            name: "leftovers".to_string(),
            problems,
        })
    }
}

/// The interface names in `uplink`.
fn uplink_links(uplink: &Netns) -> Result<Vec<String>, EgressError> {
    let mut args = ip_netns_args(uplink);
    args.extend(["-j", "link", "show"]);
    let text = IP.run(&args, None, None)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| EgressError::Encode(err.to_string()))?;
    Ok(value
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|link| link.get("ifname")?.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}
