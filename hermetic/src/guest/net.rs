//! The guest's network: loopback up, and the interface with the given MAC address configured
//! with an IPv4 address, netmask and default route, and, when the job's network carries IPv6,
//! an IPv6 address and default route (so IPv6 attempts reach the host's rules and its report
//! instead of failing unseen inside the guest).
//!
//! Done with the classic `SIOCSIF*` and `SIOCADDRT` ioctls on a datagram socket: the agent runs
//! before the root file system is mounted, so there is no `ip` tool to call, and these few
//! calls need no netlink code. The interface is found by its MAC (the host chose the MAC;
//! interface names depend on probe order).
//!
//! Must never: touch an interface other than loopback and the one with the requested MAC.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::vm::protocol::{Ipv6Setup, NetworkSetup};

/// The kernel's `struct rtentry` (linux/route.h) on 64-bit Linux; the `libc` crate has no
/// glibc definition of it.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_tos: libc::c_uchar,
    rt_class: libc::c_uchar,
    rt_pad4: [libc::c_short; 3],
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// Configures the interface with `setup.mac`; returns its name.
pub(crate) fn configure(setup: &NetworkSetup) -> io::Result<String> {
    if setup.prefix_len > 32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix length {} is over 32", setup.prefix_len),
        ));
    }
    let name = interface_with_mac(&setup.mac)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network interface has MAC address {}", setup.mac),
        )
    })?;
    let socket = datagram_socket()?;
    let mask = if setup.prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(setup.prefix_len))
    };
    set_address(&socket, &name, libc::SIOCSIFADDR, setup.address)?;
    set_address(&socket, &name, libc::SIOCSIFNETMASK, Ipv4Addr::from(mask))?;
    set_up(&socket, &name)?;
    if let Some(gateway) = setup.gateway {
        add_default_route(&socket, gateway)?;
    }
    if let Some(v6) = &setup.ipv6 {
        configure_v6(&name, v6)?;
    }
    Ok(name)
}

/// The kernel's `struct in6_rtmsg` (linux/ipv6_route.h); the `libc` crate's has private fields.
#[repr(C)]
struct In6RtMsg {
    dst: libc::in6_addr,
    src: libc::in6_addr,
    gateway: libc::in6_addr,
    kind: u32,
    dst_len: u16,
    src_len: u16,
    metric: u32,
    info: libc::c_ulong,
    flags: u32,
    ifindex: libc::c_int,
}

/// Adds `v6`'s address and default route to interface `name`. Duplicate address detection is
/// turned off first: the link has two ends, both set by hrun, and detection would hold the
/// address back for a second or more.
fn configure_v6(name: &str, v6: &Ipv6Setup) -> io::Result<()> {
    if v6.prefix_len > 128 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("IPv6 prefix length {} is over 128", v6.prefix_len),
        ));
    }
    let dad = format!("/proc/sys/net/ipv6/conf/{name}/accept_dad");
    std::fs::write(&dad, "0").map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot turn off IPv6 address detection ({dad}): {e}; has the guest kernel IPv6?"
            ),
        )
    })?;
    let c_name = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
    // SAFETY: if_nametoindex reads a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    let index = libc::c_int::try_from(index)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "interface index out of range"))?;
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own alone.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut address = libc::in6_ifreq {
        ifr6_addr: in6(v6.address),
        ifr6_prefixlen: u32::from(v6.prefix_len),
        ifr6_ifindex: index,
    };
    // SAFETY: SIOCSIFADDR on an AF_INET6 socket reads an `in6_ifreq`, valid for the call.
    let rc = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCSIFADDR,
            &mut address as *mut libc::in6_ifreq,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut route = In6RtMsg {
        dst: in6(Ipv6Addr::UNSPECIFIED),
        src: in6(Ipv6Addr::UNSPECIFIED),
        gateway: in6(v6.gateway),
        kind: 0,
        dst_len: 0,
        src_len: 0,
        metric: 1,
        info: 0,
        flags: u32::from(libc::RTF_UP | libc::RTF_GATEWAY),
        ifindex: index,
    };
    // SAFETY: SIOCADDRT on an AF_INET6 socket reads a `struct in6_rtmsg`, which `In6RtMsg`
    // lays out exactly; it is valid for the whole call.
    let rc = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCADDRT,
            &mut route as *mut In6RtMsg,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn in6(address: Ipv6Addr) -> libc::in6_addr {
    libc::in6_addr {
        s6_addr: address.octets(),
    }
}

/// The name of the interface whose MAC address is `mac` (case-insensitive), asked of the
/// kernel (`if_nameindex`, then `SIOCGIFHWADDR` per interface) so it works in any network
/// namespace, whatever `/sys` shows.
pub(crate) fn interface_with_mac(mac: &str) -> io::Result<Option<String>> {
    let wanted = parse_mac(mac).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad MAC address {mac:?}"),
        )
    })?;
    let socket = datagram_socket()?;
    for name in interface_names()? {
        let Ok(mut req) = ifreq_for(&name) else {
            continue;
        };
        // SAFETY: SIOCGIFHWADDR reads the name from and writes the hardware address into
        // `req`, a valid, writable `ifreq` for the whole call.
        let rc = unsafe {
            libc::ioctl(
                socket.as_raw_fd(),
                libc::SIOCGIFHWADDR,
                &mut req as *mut libc::ifreq,
            )
        };
        if rc != 0 {
            continue;
        }
        // SAFETY: reading the address member the kernel just filled in.
        let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
        let got: Vec<u8> = hw.sa_data.iter().take(6).map(|b| *b as u8).collect();
        if got == wanted {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.trim().split(':');
    for byte in &mut out {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn interface_names() -> io::Result<Vec<String>> {
    // SAFETY: if_nameindex takes no arguments and returns an array we free below.
    let list = unsafe { libc::if_nameindex() };
    if list.is_null() {
        return Err(io::Error::last_os_error());
    }
    let mut names = Vec::new();
    let mut entry = list;
    // SAFETY: the array ends with an entry whose index is 0 and name NULL; every name before it
    // is a valid C string until if_freenameindex, which is called once, after the loop.
    unsafe {
        while (*entry).if_index != 0 && !(*entry).if_name.is_null() {
            names.push(
                std::ffi::CStr::from_ptr((*entry).if_name)
                    .to_string_lossy()
                    .into_owned(),
            );
            entry = entry.add(1);
        }
        libc::if_freenameindex(list);
    }
    Ok(names)
}

fn datagram_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    // SAFETY: an all-zero `ifreq` is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn sockaddr_v4(address: Ipv4Addr) -> libc::sockaddr {
    let inet = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(address).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` are both 16-byte plain C structs; the kernel reads a
    // `sockaddr` whose family says it is a `sockaddr_in`, which is exactly this reinterpretation.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(inet) }
}

fn set_address(
    socket: &OwnedFd,
    name: &str,
    request: libc::c_ulong,
    address: Ipv4Addr,
) -> io::Result<()> {
    let mut req = ifreq_for(name)?;
    req.ifr_ifru.ifru_addr = sockaddr_v4(address);
    // SAFETY: SIOCSIFADDR/SIOCSIFNETMASK read the name and address from `req`, a valid
    // `ifreq` for the whole call. They change only the named interface of the guest.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), request, &mut req as *mut libc::ifreq) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_up(socket: &OwnedFd, name: &str) -> io::Result<()> {
    let mut req = ifreq_for(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`.
    let rc = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut libc::ifreq,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: reading the flags member the kernel just filled in.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS only reads `req`; it changes the named interface of the guest.
    let rc = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &mut req as *mut libc::ifreq,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn add_default_route(socket: &OwnedFd, gateway: Ipv4Addr) -> io::Result<()> {
    let mut route = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr_v4(Ipv4Addr::UNSPECIFIED),
        rt_gateway: sockaddr_v4(gateway),
        rt_genmask: sockaddr_v4(Ipv4Addr::UNSPECIFIED),
        rt_flags: libc::RTF_UP | libc::RTF_GATEWAY,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_tos: 0,
        rt_class: 0,
        rt_pad4: [0; 3],
        rt_metric: 0,
        rt_dev: std::ptr::null_mut(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    // SAFETY: SIOCADDRT reads a `struct rtentry`, which `RtEntry` reproduces field for field;
    // `rt_dev` is NULL (the kernel picks the interface that reaches the gateway). It adds the
    // guest's default route.
    let rc = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCADDRT,
            &mut route as *mut RtEntry,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn ip(args: &[&str]) -> Option<String> {
        let out = Command::new("ip").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn configures_the_interface_with_the_given_mac_in_a_fresh_network_namespace() {
        // A thread of its own enters a new network namespace, so nothing else is touched.
        let result = std::thread::spawn(|| -> Result<(String, String), String> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("unshare: {e}"))?;
            // A veth pair (dummy interfaces are not in every kernel).
            ip(&[
                "link",
                "add",
                "hrt0",
                "address",
                "02:00:00:aa:bb:cc",
                "type",
                "veth",
                "peer",
                "name",
                "hrt1",
            ])
            .ok_or("ip link add veth")?;
            let setup = NetworkSetup {
                mac: "02:00:00:AA:BB:CC".into(),
                address: Ipv4Addr::new(10, 9, 8, 2),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(10, 9, 8, 1)),
                dns: vec![],
                ipv6: Some(Ipv6Setup {
                    address: "fd00:9:8::2".parse().expect("address"),
                    prefix_len: 64,
                    gateway: "fd00:9:8::1".parse().expect("address"),
                }),
            };
            let name = configure(&setup).map_err(|e| e.to_string())?;
            let addr = ip(&["-4", "addr", "show", "dev", &name]).ok_or("ip addr")?;
            let route = ip(&["-4", "route"]).ok_or("ip route")?;
            let addr6 = ip(&["-6", "addr", "show", "dev", &name]).ok_or("ip -6 addr")?;
            let route6 = ip(&["-6", "route"]).ok_or("ip -6 route")?;
            Ok((addr + &addr6, route + &route6))
        })
        .join();
        match result {
            Ok(Ok((addr, route))) => {
                assert!(addr.contains("10.9.8.2/24"), "{addr}");
                assert!(route.contains("default via 10.9.8.1"), "{route}");
                assert!(addr.contains("fd00:9:8::2/64"), "{addr}");
                assert!(route.contains("default via fd00:9:8::1"), "{route}");
            }
            Ok(Err(reason)) => {
                println!("SKIP configures_the_interface_with_the_given_mac: {reason}")
            }
            Err(_) => panic!("the network thread panicked"),
        }
    }

    #[test]
    fn refuses_an_impossible_prefix_and_an_unknown_mac() {
        let mut setup = NetworkSetup {
            mac: "02:00:00:00:00:99".into(),
            address: Ipv4Addr::new(10, 0, 0, 2),
            prefix_len: 33,
            gateway: None,
            dns: vec![],
            ipv6: None,
        };
        assert_eq!(
            configure(&setup).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::InvalidInput)
        );
        setup.prefix_len = 24;
        assert_eq!(
            configure(&setup).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::NotFound)
        );
        setup.mac = "02:00:00:00:00".into();
        assert_eq!(
            configure(&setup).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::InvalidInput)
        );
    }
}
