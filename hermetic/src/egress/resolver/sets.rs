//! Putting the addresses answered for allowlisted names into the job's nftables sets, each for
//! the record's TTL (kept within [`MIN_TIMEOUT`]..[`MAX_TIMEOUT`]).
//!
//! The element is in the set before the guest gets the answer, so its first connection
//! already passes. An address answered again with a later expiry is refreshed (deleted and
//! added in one `nft` transaction, since `add` keeps an existing element's timeout); one whose
//! element outlives the new answer is left alone.
//!
//! Must never: allow an address on another port than the matching entries allow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::egress::error::EgressError;
use crate::egress::netns::Netns;
use crate::egress::ruleset::{add_learned, apply, Learned};

/// The shortest time an answered address stays allowed, even for a TTL of 0: the guest must
/// still be able to connect right after the answer.
pub(crate) const MIN_TIMEOUT: u32 = 5;
/// The longest (one day), whatever the TTL says.
pub(crate) const MAX_TIMEOUT: u32 = 86_400;

/// The learned sets of one job namespace.
#[derive(Debug)]
pub(crate) struct LearnedSets {
    job_netns: Netns,
    expiries: Mutex<HashMap<Learned, Instant>>,
}

impl LearnedSets {
    pub fn new(job_netns: Netns) -> Self {
        LearnedSets {
            job_netns,
            expiries: Mutex::new(HashMap::new()),
        }
    }

    /// Allows each of `addresses` (with its TTL) on each of `ports` (`None`: every port).
    pub fn allow(
        &self,
        addresses: &[(IpAddr, u32)],
        ports: &[Option<u16>],
    ) -> Result<(), EgressError> {
        let mut expiries = self
            .expiries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (items, refresh) = plan(&expiries, Instant::now(), addresses, ports);
        if items.is_empty() {
            return Ok(());
        }
        let applied = apply(&add_learned(&items, &refresh), &self.job_netns);
        if applied.is_err() && !refresh.is_empty() {
            // An element the kernel already expired cannot be deleted: add them all afresh.
            apply(&add_learned(&items, &[]), &self.job_netns)?;
        } else {
            applied?;
        }
        let now = Instant::now();
        for (item, timeout) in items {
            expiries.insert(item, now + Duration::from_secs(u64::from(timeout)));
        }
        expiries.retain(|_, expiry| *expiry > now);
        Ok(())
    }
}

/// Which elements to add (with their timeouts) and which of them to delete first.
fn plan(
    expiries: &HashMap<Learned, Instant>,
    now: Instant,
    addresses: &[(IpAddr, u32)],
    ports: &[Option<u16>],
) -> (Vec<(Learned, u32)>, Vec<Learned>) {
    // An entry without a port allows every port: the others add nothing.
    let ports: Vec<Option<u16>> = if ports.contains(&None) {
        vec![None]
    } else {
        let mut ports = ports.to_vec();
        ports.sort_unstable();
        ports.dedup();
        ports
    };
    let mut items = Vec::new();
    let mut refresh = Vec::new();
    for (addr, ttl) in addresses {
        let timeout = (*ttl).clamp(MIN_TIMEOUT, MAX_TIMEOUT);
        let expiry = now + Duration::from_secs(u64::from(timeout));
        for port in &ports {
            let item = Learned {
                addr: *addr,
                port: *port,
            };
            if items.iter().any(|(known, _)| *known == item) {
                continue;
            }
            match expiries.get(&item) {
                Some(old) if *old > now && *old >= expiry => {}
                Some(old) if *old > now => {
                    refresh.push(item);
                    items.push((item, timeout));
                }
                _ => items.push((item, timeout)),
            }
        }
    }
    (items, refresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ttl_becomes_the_timeout_within_bounds() {
        let (items, refresh) = plan(
            &HashMap::new(),
            Instant::now(),
            &[
                (addr("192.0.2.1"), 60),
                (addr("192.0.2.2"), 0),
                (addr("192.0.2.3"), u32::MAX),
            ],
            &[Some(443)],
        );
        let timeouts: Vec<u32> = items.iter().map(|(_, timeout)| *timeout).collect();
        assert_eq!(timeouts, [60, MIN_TIMEOUT, MAX_TIMEOUT]);
        assert!(refresh.is_empty());
        assert_eq!(items[0].0.port, Some(443));
    }

    #[test]
    fn an_entry_without_port_allows_every_port_once() {
        let (items, _) = plan(
            &HashMap::new(),
            Instant::now(),
            &[(addr("192.0.2.1"), 60)],
            &[Some(443), None, Some(80)],
        );
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0.port, None);
        let (items, _) = plan(
            &HashMap::new(),
            Instant::now(),
            &[(addr("192.0.2.1"), 60)],
            &[Some(443), Some(80), Some(443)],
        );
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn live_elements_are_refreshed_only_when_the_answer_outlives_them() {
        let now = Instant::now();
        let item = Learned {
            addr: addr("192.0.2.1"),
            port: None,
        };
        let expiries = HashMap::from([(item, now + Duration::from_secs(100))]);
        let (items, refresh) = plan(&expiries, now, &[(item.addr, 60)], &[None]);
        assert!(items.is_empty() && refresh.is_empty());
        let (items, refresh) = plan(&expiries, now, &[(item.addr, 300)], &[None]);
        assert_eq!(items, [(item, 300)]);
        assert_eq!(refresh, [item]);
        let expired = HashMap::from([(item, now)]);
        let (items, refresh) = plan(&expired, now, &[(item.addr, 60)], &[None]);
        assert_eq!(items.len(), 1);
        assert!(refresh.is_empty());
    }
}
