//! Which names and addresses a job network gets, without two jobs (of any runner on the
//! machine) ever sharing them.
//!
//! A job holds a *slot*: an exclusive `flock` on `/run/hrun/egress/slot-<k>.lock`. The kernel
//! drops the lock when the holder dies, so a killed runner never leaks a slot, and no counter
//! or registry is kept anywhere. Slot `k` owns:
//!
//! - IPv4: the /29 at `198.18.0.0 + 8k` in 198.18.0.0/16 (RFC 2544's benchmarking range, which
//!   no real network routes): a /30 between the uplink (`.1`) and the job namespace (`.2`), and
//!   a /30 between the job namespace (`.5`, gateway and DNS) and the guest (`.6`);
//! - IPv6: `fd68:7275:6e:k::/80` for the uplink link and `fd68:7275:6e:k:1::/80` for the guest
//!   link (a unique local prefix spelling "hrun");
//! - the names `hrun-<pid>-<k>` (job namespace), `hrun-<pid>-<k>-g` (guest namespace),
//!   `hrun-<pid>-<k>` (the uplink's nftables table) and `hr<pid>n<k>` (the uplink's veth, within
//!   the 15 bytes of an interface name). The runner's pid in each name tells
//!   [`cleanup_leftovers`](super::cleanup_leftovers) whose they are.
//!
//! Must never: hand out a slot whose lock it does not hold.

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::error::EgressError;

/// Where the slot locks live (a tmpfs: nothing survives a reboot).
pub(crate) const SLOT_DIR: &str = "/run/hrun/egress";

/// How many job networks can exist at once on a machine.
pub(crate) const SLOT_COUNT: u32 = 8192;

const V4_POOL: u32 = u32::from_be_bytes([198, 18, 0, 0]);
const V6_POOL: [u16; 3] = [0xfd68, 0x7275, 0x006e];

/// An exclusive claim on one slot; released when dropped or when the process dies.
#[derive(Debug)]
pub(crate) struct Slot {
    index: u32,
    _lock: Flock<File>,
}

impl Slot {
    /// Claims the first free slot.
    pub fn acquire() -> Result<Slot, EgressError> {
        std::fs::create_dir_all(SLOT_DIR)
            .map_err(|err| EgressError::io(format!("creating {SLOT_DIR}"), err))?;
        for index in 0..SLOT_COUNT {
            let path = PathBuf::from(SLOT_DIR).join(format!("slot-{index}.lock"));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|err| EgressError::io(format!("opening {}", path.display()), err))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(Slot { index, _lock: lock }),
                Err((_, Errno::EWOULDBLOCK)) => continue,
                Err((_, errno)) => {
                    return Err(EgressError::io(
                        format!("locking {}", path.display()),
                        errno.into(),
                    ))
                }
            }
        }
        Err(EgressError::SubnetsExhausted(SLOT_COUNT))
    }

    /// The slot's number.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// The names of a job network's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobNames {
    /// The job namespace, and the uplink's nftables table.
    pub netns: String,
    /// The guest namespace ([`GuestLink::Netns`](super::GuestLink::Netns)).
    pub guest_netns: String,
    /// The veth end in the uplink namespace.
    pub uplink_link: String,
}

/// The veth end inside the job namespace that leads to the uplink.
pub(crate) const JOB_UPLINK_IF: &str = "up0";
/// The guest side inside the job namespace: a tap ([`GuestLink::Tap`](super::GuestLink::Tap)).
pub(crate) const JOB_TAP_IF: &str = "tap0";
/// The guest side inside the job namespace: a veth ([`GuestLink::Netns`](super::GuestLink::Netns)).
pub(crate) const JOB_GUEST_VETH_IF: &str = "gw0";
/// The guest's interface in its own namespace.
pub(crate) const GUEST_IF: &str = "eth0";

impl JobNames {
    pub fn new(pid: u32, slot: u32) -> Self {
        JobNames {
            netns: format!("hrun-{pid}-{slot}"),
            guest_netns: format!("hrun-{pid}-{slot}-g"),
            uplink_link: format!("hr{pid}n{slot}"),
        }
    }
}

/// Which runner and slot a name of [`JobNames`] belongs to, if it is one.
pub(crate) fn owner_of(name: &str) -> Option<(u32, u32)> {
    let numbers = |text: &str, sep: char| -> Option<(u32, u32)> {
        let (pid, slot) = text.split_once(sep)?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (all_digits(pid) && all_digits(slot)).then_some(())?;
        Some((pid.parse().ok()?, slot.parse().ok()?))
    };
    if let Some(rest) = name.strip_prefix("hrun-") {
        numbers(rest.strip_suffix("-g").unwrap_or(rest), '-')
    } else {
        numbers(name.strip_prefix("hr")?, 'n')
    }
}

/// The addresses of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addressing {
    slot: u32,
}

impl Addressing {
    pub fn new(slot: u32) -> Self {
        Addressing { slot }
    }

    fn v4(self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(V4_POOL + self.slot * 8 + offset)
    }

    fn v6(self, link: u16, host: u16) -> Ipv6Addr {
        // The slot is below SLOT_COUNT (8192), so it fits one group.
        let slot = u16::try_from(self.slot).unwrap_or(u16::MAX);
        Ipv6Addr::new(V6_POOL[0], V6_POOL[1], V6_POOL[2], slot, link, 0, 0, host)
    }

    /// The uplink's end of the uplink link.
    pub fn uplink4(self) -> Ipv4Addr {
        self.v4(1)
    }
    /// The job namespace's end of the uplink link.
    pub fn job4(self) -> Ipv4Addr {
        self.v4(2)
    }
    /// The job namespace's end of the guest link: gateway and resolver.
    pub fn gateway4(self) -> Ipv4Addr {
        self.v4(5)
    }
    /// The guest.
    pub fn guest4(self) -> Ipv4Addr {
        self.v4(6)
    }
    /// The guest link's network.
    pub fn guest_net4(self) -> Ipv4Net {
        Ipv4Net::new(self.v4(4), 30).unwrap_or_default()
    }
    pub fn uplink6(self) -> Ipv6Addr {
        self.v6(0, 1)
    }
    pub fn job6(self) -> Ipv6Addr {
        self.v6(0, 2)
    }
    pub fn gateway6(self) -> Ipv6Addr {
        self.v6(1, 1)
    }
    pub fn guest6(self) -> Ipv6Addr {
        self.v6(1, 2)
    }
    pub fn guest_net6(self) -> Ipv6Net {
        Ipv6Net::new(self.v6(1, 0), PREFIX6).unwrap_or_default()
    }
    fn mac(self, role: u8) -> String {
        let [_, _, high, low] = self.slot.to_be_bytes();
        format!("02:68:72:{role:02x}:{high:02x}:{low:02x}")
    }
    /// The uplink's veth end: locally administered MACs, unique per slot and role.
    pub fn uplink_mac(self) -> String {
        self.mac(1)
    }
    /// The job namespace's end of the uplink link.
    pub fn job_mac(self) -> String {
        self.mac(2)
    }
    /// The gateway (the job namespace's end of the guest link).
    pub fn gateway_mac(self) -> String {
        self.mac(3)
    }
    /// The guest interface.
    pub fn guest_mac(self) -> String {
        self.mac(0x75)
    }
}

/// Prefix length of both IPv4 links.
pub(crate) const PREFIX4: u8 = 30;
/// Prefix length of both IPv6 links.
pub(crate) const PREFIX6: u8 = 80;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_get_disjoint_subnets_inside_the_pool() {
        let first = Addressing::new(0);
        let last = Addressing::new(SLOT_COUNT - 1);
        assert_eq!(first.uplink4(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(first.guest4(), Ipv4Addr::new(198, 18, 0, 6));
        assert_eq!(first.guest_net4().to_string(), "198.18.0.4/30");
        assert_eq!(Addressing::new(1).uplink4(), Ipv4Addr::new(198, 18, 0, 9));
        assert_eq!(last.guest4(), Ipv4Addr::new(198, 18, 255, 254));
        assert_eq!(
            Addressing::new(300).guest6().to_string(),
            "fd68:7275:6e:12c:1::2"
        );
        assert!(!Addressing::new(5)
            .guest_net6()
            .contains(&Addressing::new(6).guest6()));
        assert!(Addressing::new(5)
            .guest_net6()
            .contains(&Addressing::new(5).gateway6()));
        assert_eq!(Addressing::new(0x1234).guest_mac(), "02:68:72:75:12:34");
        assert_eq!(Addressing::new(0x1234).uplink_mac(), "02:68:72:01:12:34");
    }

    #[test]
    fn names_carry_the_runner_pid_and_fit_an_interface_name() {
        let names = JobNames::new(4_194_304, SLOT_COUNT - 1);
        assert_eq!(names.netns, "hrun-4194304-8191");
        assert_eq!(names.guest_netns, "hrun-4194304-8191-g");
        assert!(names.uplink_link.len() <= 15, "{}", names.uplink_link);
        for name in [&names.netns, &names.guest_netns, &names.uplink_link] {
            assert_eq!(owner_of(name), Some((4_194_304, SLOT_COUNT - 1)));
        }
    }

    #[test]
    fn other_names_have_no_owner() {
        for name in [
            "hrun-test-1-world",
            "hrun-12",
            "hrun-12-",
            "hrun--3",
            "hr12",
            "hrn3",
            "eth0",
            "hrun-1-2-x",
            "hrun-99999999999-1",
        ] {
            assert_eq!(owner_of(name), None, "{name}");
        }
    }
}
