//! End-to-end tests of job networks, in namespaces the tests make: a "world" with servers and an
//! upstream DNS server is the uplink ([`Uplink::Netns`]), a guest namespace joined by a veth
//! ([`GuestLink::Netns`]) is the guest. No address outside the machine is ever used.
//!
//! They need root, `ip` and `nft` (installed by `ci/setup-egress.sh`); without them each test
//! prints `SKIP <test>: <reason>` and returns. Every name they make carries the test process's
//! pid and a tag of the test, so they run in parallel, with each other and with other runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::command::{IP, NFT};
use super::netns::list_named;
use super::ruleset::list_inet_tables;
use super::test_world::*;
use super::*;

/// Long enough for an allowed connection inside the machine; what a dropped SYN waits for.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);

fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces and nftables)".to_string());
    }
    for tool in [IP, NFT] {
        if tool.locate().is_none() {
            return Some(format!(
                "`{}` not found (Debian package {}; ci/setup-egress.sh installs it)",
                tool.program, tool.package
            ));
        }
    }
    None
}

/// A world for `test`, or `None` after printing why the test is skipped.
fn world_for(test: &str, tag: &str) -> Option<World> {
    match skip_reason().map_or_else(|| World::create(tag), Err) {
        Ok(world) => Some(world),
        Err(reason) => {
            println!("SKIP egress::tests::{test}: {reason}");
            None
        }
    }
}

fn network(world: &World, mode: EgressMode, allow: &[&str]) -> JobNetwork {
    let policy = EgressPolicy::parse(mode, allow).expect("a valid policy");
    let config = NetworkConfig {
        policy,
        uplink: Uplink::Netns(world.name.clone()),
        upstream_dns: vec![SocketAddr::new(UPSTREAM_DNS.parse().unwrap(), 53)],
    };
    JobNetwork::create(&config, GuestLink::Netns).expect("create the job network")
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Connects from the guest to `addr`:[`PORT`] and returns the server's greeting.
fn connect(job: &JobNetwork, addr: &str) -> Result<String, String> {
    let target = SocketAddr::new(ip(addr), PORT);
    job.run_in_guest(|| {
        let mut stream =
            TcpStream::connect_timeout(&target, CONNECT_TIMEOUT).map_err(|err| err.to_string())?;
        stream
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|err| err.to_string())?;
        let mut greeting = String::new();
        stream
            .read_to_string(&mut greeting)
            .map_err(|err| err.to_string())?;
        Ok(greeting)
    })
    .expect("enter the guest namespace")
}

fn question(name: &str, record_type: RecordType) -> Message {
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
    request
}

/// Asks `server` over UDP from the guest; `None` if no answer came.
fn ask_udp(
    job: &JobNetwork,
    server: IpAddr,
    name: &str,
    record_type: RecordType,
) -> Option<Message> {
    let request = question(name, record_type);
    job.run_in_guest(|| {
        let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
        socket.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        socket
            .send_to(&request.to_vec().ok()?, SocketAddr::new(server, 53))
            .ok()?;
        let mut buffer = [0u8; 2048];
        let size = socket.recv(&mut buffer).ok()?;
        Message::from_vec(&buffer[..size]).ok()
    })
    .expect("enter the guest namespace")
}

/// Asks hrun's resolver (the guest's DNS) over TCP.
fn ask_tcp(job: &JobNetwork, name: &str, record_type: RecordType) -> Message {
    let request = question(name, record_type);
    let dns = SocketAddr::new(IpAddr::V4(job.guest().dns), 53);
    job.run_in_guest(|| {
        let mut stream = TcpStream::connect_timeout(&dns, CONNECT_TIMEOUT).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let bytes = request.to_vec().unwrap();
        stream
            .write_all(&(bytes.len() as u16).to_be_bytes())
            .unwrap();
        stream.write_all(&bytes).unwrap();
        let answer = super::resolver::upstream::read_tcp_message(&mut stream).unwrap();
        Message::from_vec(&answer).unwrap()
    })
    .expect("enter the guest namespace")
}

fn addresses(answer: &Message) -> Vec<IpAddr> {
    answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

/// The report's attempts to `addr` (any protocol but DNS), in order.
fn attempts_to<'a>(report: &'a EgressReport, addr: &str) -> Vec<&'a Attempt> {
    report
        .attempts
        .iter()
        .filter(|a| a.protocol != Protocol::Dns && a.destination == ip(addr))
        .collect()
}

fn query_for<'a>(report: &'a EgressReport, name: &str) -> &'a Attempt {
    report
        .attempts
        .iter()
        .find(|a| a.protocol == Protocol::Dns && a.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no query for {name} in {}", report.to_json()))
}

#[test]
fn block_mode_reaches_only_the_allowlist_and_reports_every_attempt() {
    let Some(world) = world_for(
        "block_mode_reaches_only_the_allowlist_and_reports_every_attempt",
        "block",
    ) else {
        return;
    };
    let job = network(
        &world,
        EgressMode::Block,
        &[
            "192.0.2.10:8080",
            "[2001:db8::10]:8080",
            "*.allowed.test:8080",
        ],
    );
    let dns = IpAddr::V4(job.guest().dns);

    // An allowlisted IPv4 and IPv6 address.
    assert_eq!(connect(&job, ALLOWED_V4).unwrap(), "hello from 192.0.2.10");
    assert_eq!(
        connect(&job, ALLOWED_V6).unwrap(),
        "hello from 2001:db8::10"
    );
    // The address of an allowlisted name, before the name was resolved through hrun: a raw IP.
    assert!(connect(&job, NAMED_V4).is_err());
    // The name, through hrun's resolver; then its address is reachable.
    let answer = ask_udp(&job, dns, "www.allowed.test.", RecordType::A).expect("an answer");
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&answer), [ip(NAMED_V4)]);
    assert_eq!(answer.answers[0].ttl, KNOWN_TTL);
    assert_eq!(connect(&job, NAMED_V4).unwrap(), "hello from 192.0.2.30");
    // Not listed: an IPv4 address, an IPv6 address, a name (never forwarded), another resolver.
    assert!(connect(&job, DENIED_V4).is_err());
    assert!(connect(&job, DENIED_V6).is_err());
    let answer = ask_udp(&job, dns, "secret-data.denied.test.", RecordType::A).expect("an answer");
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(!world.upstream_was_asked("secret-data.denied.test"));
    assert!(ask_udp(&job, ip(UPSTREAM_DNS), "www.allowed.test.", RecordType::A).is_none());

    let report = job.report();
    let verdicts = |addr| -> Vec<Verdict> {
        attempts_to(&report, addr)
            .iter()
            .map(|a| a.verdict)
            .collect()
    };
    assert_eq!(
        verdicts(ALLOWED_V4),
        [Verdict::Allowed],
        "{}",
        report.to_json()
    );
    assert_eq!(verdicts(ALLOWED_V6), [Verdict::Allowed]);
    assert_eq!(verdicts(NAMED_V4), [Verdict::Denied, Verdict::Allowed]);
    assert_eq!(verdicts(DENIED_V4), [Verdict::Denied]);
    assert_eq!(verdicts(DENIED_V6), [Verdict::Denied]);
    let allowed = attempts_to(&report, ALLOWED_V4)[0];
    assert_eq!(
        (allowed.protocol, allowed.port),
        (Protocol::Tcp, Some(PORT))
    );
    assert_eq!(allowed.reason, "allowlist entry `192.0.2.10:8080`");
    let by_name = attempts_to(&report, NAMED_V4)[1];
    assert_eq!(by_name.name.as_deref(), Some(KNOWN_NAME));
    assert!(
        by_name.reason.contains("`*.allowed.test:8080`"),
        "{}",
        by_name.reason
    );
    let resolved = query_for(&report, KNOWN_NAME);
    assert_eq!(resolved.verdict, Verdict::Allowed);
    assert_eq!(resolved.answers, [ip(NAMED_V4)]);
    let refused = query_for(&report, "secret-data.denied.test");
    assert_eq!(refused.verdict, Verdict::Denied);
    assert!(refused.reason.contains("NXDOMAIN"));
    let bypass = attempts_to(&report, UPSTREAM_DNS);
    assert_eq!(bypass.len(), 1, "{}", report.to_json());
    assert_eq!(
        (bypass[0].protocol, bypass[0].port),
        (Protocol::Udp, Some(53))
    );
    assert_eq!(bypass[0].verdict, Verdict::Denied);
    assert!(bypass[0].reason.contains("resolver other than hrun's"));
    // Block mode denies without failing the job.
    assert!(job.failures().is_empty());
    job.teardown().unwrap();
}

#[test]
fn audit_mode_lets_everything_through_and_records_what_would_be_denied() {
    let Some(world) = world_for(
        "audit_mode_lets_everything_through_and_records_what_would_be_denied",
        "audit",
    ) else {
        return;
    };
    let job = network(&world, EgressMode::Audit, &["192.0.2.10:8080"]);
    let dns = IpAddr::V4(job.guest().dns);
    assert!(connect(&job, ALLOWED_V4).is_ok());
    assert_eq!(connect(&job, DENIED_V4).unwrap(), "hello from 192.0.2.20");
    assert!(connect(&job, DENIED_V6).is_ok());
    let answer = ask_udp(&job, dns, "www.allowed.test.", RecordType::A).expect("an answer");
    assert_eq!(addresses(&answer), [ip(NAMED_V4)]);
    assert!(world.upstream_was_asked(KNOWN_NAME));

    let report = job.report();
    assert_eq!(report.mode, EgressMode::Audit);
    assert_eq!(
        attempts_to(&report, ALLOWED_V4)[0].verdict,
        Verdict::Allowed
    );
    for addr in [DENIED_V4, DENIED_V6] {
        let attempt = attempts_to(&report, addr)[0];
        assert_eq!(attempt.verdict, Verdict::Audited, "{}", report.to_json());
        assert!(attempt.reason.contains("audit mode"));
    }
    assert_eq!(query_for(&report, KNOWN_NAME).verdict, Verdict::Audited);
    assert!(job.failures().is_empty());
    job.teardown().unwrap();
}

#[test]
fn block_and_fail_lists_each_denied_attempt_as_a_failure() {
    let Some(world) = world_for(
        "block_and_fail_lists_each_denied_attempt_as_a_failure",
        "fail",
    ) else {
        return;
    };
    let job = network(
        &world,
        EgressMode::BlockAndFail,
        &["192.0.2.10:8080", "www.allowed.test"],
    );
    let dns = IpAddr::V4(job.guest().dns);
    assert!(connect(&job, ALLOWED_V4).is_ok());
    assert!(connect(&job, DENIED_V4).is_err());
    let answer = ask_udp(&job, dns, "leak.denied.test.", RecordType::AAAA).expect("an answer");
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);

    let failures = job.failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("tcp 192.0.2.20:8080"), "{failures:?}");
    assert!(failures[1].contains("leak.denied.test"), "{failures:?}");
    assert_eq!(job.report().denied().count(), 2);
    job.teardown().unwrap();
}

#[test]
fn resolver_answers_over_tcp_and_serves_only_addresses() {
    let Some(world) = world_for("resolver_answers_over_tcp_and_serves_only_addresses", "tcp")
    else {
        return;
    };
    let job = network(&world, EgressMode::Block, &["www.allowed.test:8080"]);
    let answer = ask_tcp(&job, "www.allowed.test.", RecordType::AAAA);
    assert_eq!(addresses(&answer), [ip(NAMED_V6)]);
    assert_eq!(connect(&job, NAMED_V6).unwrap(), "hello from 2001:db8::30");
    let txt = ask_tcp(&job, "www.allowed.test.", RecordType::TXT);
    assert_eq!(txt.metadata.response_code, ResponseCode::NoError);
    assert!(txt.answers.is_empty());
    let queried = world.upstream_queries.lock().unwrap().clone();
    assert_eq!(queried, [KNOWN_NAME], "only the AAAA query went upstream");
    job.teardown().unwrap();
}

/// Everything named for `job` that exists: namespaces, the uplink veth, the uplink table.
fn traces(world: &World, netns: &str, guest: &str, link: &str) -> Vec<String> {
    let world_ns = world.netns();
    let mut found: Vec<String> = list_named()
        .into_iter()
        .filter(|name| name == netns || name == guest)
        .collect();
    let links = IP
        .run(&["-n", &world.name, "-o", "link", "show"], None, None)
        .unwrap();
    if links.contains(&format!(" {link}@")) || links.contains(&format!(" {link}:")) {
        found.push(link.to_string());
    }
    found.extend(
        list_inet_tables(&world_ns)
            .unwrap()
            .into_iter()
            .filter(|table| table == netns),
    );
    found
}

fn job_names(job: &JobNetwork) -> (String, String, String) {
    let netns = job.name().to_string();
    let guest = job
        .guest()
        .guest_netns
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .unwrap_or_default();
    let (pid, slot) = super::addressing::owner_of(&netns).unwrap();
    (netns, guest, format!("hr{pid}n{slot}"))
}

#[test]
fn teardown_and_drop_leave_no_namespace_link_or_table() {
    let Some(world) = world_for(
        "teardown_and_drop_leave_no_namespace_link_or_table",
        "teardown",
    ) else {
        return;
    };
    let job = network(&world, EgressMode::Block, &["192.0.2.10:8080"]);
    let (netns, guest, link) = job_names(&job);
    assert_eq!(traces(&world, &netns, &guest, &link).len(), 4);
    job.teardown().unwrap();
    assert_eq!(traces(&world, &netns, &guest, &link), Vec::<String>::new());

    let job = network(&world, EgressMode::Audit, &["192.0.2.10:8080"]);
    let (netns, guest, link) = job_names(&job);
    drop(job);
    assert_eq!(traces(&world, &netns, &guest, &link), Vec::<String>::new());
}

#[test]
fn tap_link_is_found_by_a_prepared_command_inside_the_job_namespace() {
    let Some(world) = world_for(
        "tap_link_is_found_by_a_prepared_command_inside_the_job_namespace",
        "tap",
    ) else {
        return;
    };
    let policy = EgressPolicy::parse(EgressMode::Block, ["192.0.2.10:8080"]).unwrap();
    let config = NetworkConfig {
        policy,
        uplink: Uplink::Netns(world.name.clone()),
        upstream_dns: Vec::new(),
    };
    let job = JobNetwork::create(&config, GuestLink::Tap).unwrap();
    let guest = job.guest();
    assert_eq!(guest.tap.as_deref(), Some("tap0"));
    assert_eq!(guest.guest_netns, None);
    assert_eq!(guest.dns, guest.gateway);
    let mut show = Command::new(IP.locate().unwrap());
    show.args(["-o", "link", "show", "tap0"]);
    job.prepare_command(&mut show);
    let output = show.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("tap0"));
    job.teardown().unwrap();
}

/// Not a test of its own: the runner that `leftovers_of_a_killed_runner_are_removed` starts
/// and kills. It makes a job network and waits to be killed.
#[test]
#[ignore = "helper process of leftovers_of_a_killed_runner_are_removed"]
fn killed_runner_helper() {
    let Ok(world) = std::env::var("HRUN_EGRESS_TEST_WORLD") else {
        return;
    };
    // The allowlist can be given to inspect a job network by hand.
    let allow =
        std::env::var("HRUN_EGRESS_TEST_ALLOW").unwrap_or_else(|_| "192.0.2.10:8080".into());
    let policy = EgressPolicy::parse(EgressMode::Block, allow.split(',')).unwrap();
    let config = NetworkConfig {
        policy,
        uplink: Uplink::Netns(world),
        upstream_dns: vec![SocketAddr::new(UPSTREAM_DNS.parse().unwrap(), 53)],
    };
    let job = JobNetwork::create(&config, GuestLink::Netns).unwrap();
    println!("\nREADY {}", job.name());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn leftovers_of_a_killed_runner_are_removed() {
    let Some(world) = world_for("leftovers_of_a_killed_runner_are_removed", "killed") else {
        return;
    };
    let mut runner = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "egress::tests::killed_runner_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HRUN_EGRESS_TEST_WORLD", &world.name)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = runner.stdout.take().unwrap();
    let netns = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("READY ")
                .map(|(_, name)| name.trim().to_string())
        });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(runner.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    runner.wait().unwrap();
    let netns = netns.expect("the helper made a job network");
    let (pid, slot) = super::addressing::owner_of(&netns).unwrap();
    let guest = format!("{netns}-g");
    let link = format!("hr{pid}n{slot}");
    assert_eq!(
        traces(&world, &netns, &guest, &link).len(),
        4,
        "the kill left them"
    );

    let removed = cleanup_leftovers_in(&Uplink::Netns(world.name.clone())).unwrap();
    assert!(
        removed.contains(&format!("network namespace {netns}")),
        "{removed:?}"
    );
    assert_eq!(traces(&world, &netns, &guest, &link), Vec::<String>::new());
    // Another live runner's job network is not touched.
    let live = network(&world, EgressMode::Block, &["192.0.2.10:8080"]);
    cleanup_leftovers_in(&Uplink::Netns(world.name.clone())).unwrap();
    assert!(connect(&live, ALLOWED_V4).is_ok());
    live.teardown().unwrap();
}

#[test]
fn host_uplink_needs_ipv4_forwarding_and_names_the_sysctl() {
    let err = super::job::check_host_forwarding("0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("net.ipv4.ip_forward"), "{err}");
    assert!(super::job::check_host_forwarding("1\n").is_ok());
}

#[test]
fn empty_allowlist_makes_no_network() {
    let config = NetworkConfig {
        policy: EgressPolicy::parse(EgressMode::Block, Vec::<String>::new()).unwrap(),
        uplink: Uplink::Host,
        upstream_dns: Vec::new(),
    };
    assert!(matches!(
        JobNetwork::create(&config, GuestLink::Tap),
        Err(EgressError::NoAllowlist)
    ));
    let with_names = NetworkConfig {
        policy: EgressPolicy::parse(EgressMode::Block, ["example.org"]).unwrap(),
        ..config
    };
    assert!(matches!(
        JobNetwork::create(&with_names, GuestLink::Tap),
        Err(EgressError::NoUpstreamDns)
    ));
}
