//! The control messages of the host<->agent protocol, and how frames turn into messages.
//!
//! Control messages are JSON objects tagged by `"type"`: the host sends [`Request`]s, the guest
//! answers with [`Reply`]s. Bulk bytes (output, tar streams, removal lists) never go through JSON:
//! they travel in their own frames, which [`Message`] puts beside the control messages.
//!
//! Conversation (one request at a time; the guest speaks first):
//!
//! ```text
//! guest: Hello                      host: Setup          guest: Ready | Error
//! host:  RunStep                    guest: Stdout/Stderr frames ..., StepEnded | Error
//!        (Cancel may come from the host at any time while the step runs)
//! host:  Push, Removed*, Tar*, End  guest: Pushed | Error
//! host:  Pull                       guest: Removed*, Tar*, End, Pulled | Error
//! host:  Shutdown                   guest: Bye, then the VM powers off
//! ```
//!
//! Must never: put bulk data into JSON, or accept a control frame that is not valid JSON of the
//! expected shape (it is an error naming the problem, never a guess).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::frame::{Frame, FrameKind};
use super::{ProtocolError, WireBytes};
use crate::sweep::SweepReport;

/// The protocol version this build speaks. Hello and Setup carry it; a mismatch is an error
/// naming both versions.
///
/// Fields added since are optional both ways, so a host and an agent of different builds of
/// this version still understand each other: the agent announces what it does in
/// [`Hello::features`], the host asks for it only then, and a peer that does not know a field
/// ignores it. A change that is not optional bumps the version.
pub const PROTOCOL_VERSION: u32 = 1;

/// The agent sweeps a step's processes when [`RunStep::sweep`] asks, and reports in
/// [`StepEnded::sweep`].
pub const FEATURE_SWEEP: &str = "sweep";

/// The name of the virtio-serial port the agent talks on (`virtserialport,name=...`); the agent
/// finds it under `/sys/class/virtio-ports/*/name`.
pub const AGENT_PORT_NAME: &str = "org.hrun.agent.0";

/// The `serial=` of the virtio-blk disk holding the read-only root file system image.
pub const ROOT_DISK_SERIAL: &str = "hrun-root";

/// The `serial=` of the virtio-blk scratch disk (ext4, the overlay's upper layer).
pub const SCRATCH_DISK_SERIAL: &str = "hrun-scratch";

/// What the host asks of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Set the machine up for the job; answered by [`Reply::Ready`].
    Setup(Setup),
    /// Run one step; output frames follow, then [`Reply::StepEnded`].
    RunStep(RunStep),
    /// Cancel the running step (SIGINT, SIGKILL after its grace). Ignored when no step runs.
    Cancel,
    /// A delta for a directory follows (removed-path frames, tar frames, an end frame);
    /// answered by [`Reply::Pushed`].
    Push(PushRequest),
    /// Send the delta of a directory since its last sync; answered by removed-path frames, tar
    /// frames, an end frame and [`Reply::Pulled`].
    Pull(PullRequest),
    /// Stop: the agent answers [`Reply::Bye`], flushes file systems and powers the VM off.
    Shutdown,
}

/// How the machine is set up for a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The protocol version the host speaks.
    pub version: u32,
    /// The wall clock to set, in nanoseconds since the Unix epoch (the guest has no RTC).
    pub clock_unix_ns: Option<u64>,
    /// The hostname steps see.
    pub hostname: String,
    /// The uid steps run as (never 0).
    pub step_uid: u32,
    /// The gid steps run as (never 0).
    pub step_gid: u32,
    /// The network interface to configure; `None`: loopback only.
    pub network: Option<NetworkSetup>,
}

impl Setup {
    /// A set-up for this protocol version with the host's current wall clock, no network.
    pub fn new(hostname: impl Into<String>, step_uid: u32, step_gid: u32) -> Setup {
        let clock_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        Setup {
            version: PROTOCOL_VERSION,
            clock_unix_ns,
            hostname: hostname.into(),
            step_uid,
            step_gid,
            network: None,
        }
    }
}

/// The guest's network configuration. The interface is the one with this MAC address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSetup {
    /// MAC address of the interface, `52:54:00:12:34:56`.
    pub mac: String,
    /// The guest's address.
    pub address: Ipv4Addr,
    /// Prefix length of the guest's network (0..=32).
    pub prefix_len: u8,
    /// The default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers written to `/etc/resolv.conf`.
    pub dns: Vec<Ipv4Addr>,
    /// IPv6 on the same interface, when the job's network carries it (absent from older
    /// hosts' messages: no IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Setup>,
}

/// The guest's IPv6 configuration: a static address and a default route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Setup {
    pub address: Ipv6Addr,
    /// Prefix length of the guest's network (0..=128).
    pub prefix_len: u8,
    /// The default gateway, on the guest's network.
    pub gateway: Ipv6Addr,
}

/// One step to run, in terms of the guest's file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStep {
    /// The program: an absolute path or a name looked up in the `PATH` of `env`.
    pub program: WireBytes,
    /// `argv[1..]`.
    pub args: Vec<WireBytes>,
    /// The whole environment, in order; nothing else is added.
    pub env: Vec<(WireBytes, WireBytes)>,
    /// The directory the step starts in.
    pub working_dir: WireBytes,
    /// Kill the step after this long.
    pub timeout_ms: Option<u64>,
    /// Time between SIGINT and SIGKILL when cancelled.
    pub cancel_grace_ms: u64,
    /// Most processes of the step user at once.
    pub max_processes: Option<u64>,
    /// Most memory of the step (the VM's own size bounds it in any case).
    pub memory_bytes: Option<u64>,
    /// Sweep the step's processes (only to an agent that announced [`FEATURE_SWEEP`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<WireSweep>,
}

/// What the agent sweeps a step's processes for (see [`crate::sweep`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSweep {
    /// The job's secrets, by name.
    pub secrets: Vec<WireSecret>,
    /// Also look for the tokens of hrun's built-in rule pack.
    pub rules: bool,
    /// Milliseconds between two sweeps of the running step.
    pub interval_ms: u64,
}

/// One secret of the job. Its `Debug` shows the name only, and the value is zeroed on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSecret {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireSecret")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for WireSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

/// Whether steps may change a synced directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Owned by the step user; its delta comes back after each step.
    Writable,
    /// Owned by root and mounted read-only.
    ReadOnly,
}

/// A delta for `root` follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The directory, an absolute path, the same in the guest as on the host.
    pub root: WireBytes,
    /// Who may change it in the guest.
    pub access: Access,
}

/// Asks for the delta of `root` since its last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The directory, as pushed before.
    pub root: WireBytes,
}

/// What the agent tells the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// First message after boot.
    Hello(Hello),
    /// The machine is set up; steps may run.
    Ready(Ready),
    /// The step ended; every process of the step user is gone.
    StepEnded(StepEnded),
    /// A pushed delta was applied.
    Pushed(SyncStats),
    /// The pulled delta (sent just before) is complete.
    Pulled(SyncStats),
    /// The agent is shutting down.
    Bye,
    /// The request failed; the agent goes on serving unless the stream is broken.
    Error(Failure),
}

/// The agent's greeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the agent speaks.
    pub version: u32,
    /// The agent's crate version.
    pub agent_version: String,
    /// `uname -r` of the guest kernel.
    pub kernel_release: String,
    /// Milliseconds from kernel start to this message.
    pub boot_ms: u64,
    /// Things that went wrong during boot but did not stop it (a module that failed to load).
    pub notes: Vec<String>,
    /// Optional parts of the protocol the agent does ([`FEATURE_SWEEP`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// The machine is ready for steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Milliseconds from kernel start to the end of the set-up.
    pub boot_ms: u64,
}

/// How a step's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireStatus {
    /// Exit code.
    Code(i32),
    /// Ended by this signal.
    Signal(i32),
}

/// Why a step stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireEnding {
    /// On its own.
    Exited,
    /// At its timeout.
    TimedOut,
    /// Cancelled by the host.
    Cancelled,
}

/// What the step used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    /// Wall time from start to the end of the main process, microseconds.
    pub wall_us: u64,
    /// User CPU time of the tree, microseconds.
    pub user_cpu_us: u64,
    /// System CPU time of the tree, microseconds.
    pub system_cpu_us: u64,
    /// Peak resident set of the largest process.
    pub max_rss_bytes: Option<u64>,
}

/// Which limit a [`WireLimit`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireLimitKind {
    /// [`RunStep::memory_bytes`].
    Memory,
    /// [`RunStep::max_processes`].
    Processes,
}

/// A requested limit and whether the guest enforced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLimit {
    /// The limit.
    pub kind: WireLimitKind,
    /// Enforced or not.
    pub applied: bool,
    /// How it was enforced, or why not.
    pub detail: String,
}

/// The end of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepEnded {
    /// Exit status of the main process.
    pub status: WireStatus,
    /// Why it stopped.
    pub ending: WireEnding,
    /// Resource usage.
    pub usage: WireUsage,
    /// One entry per limit the step asked for.
    pub limits: Vec<WireLimit>,
    /// False when output was still open after every process was killed and a bounded wait.
    pub output_complete: bool,
    /// What the sweeps found, when [`RunStep::sweep`] asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepReport>,
}

/// What a sync moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStats {
    /// Regular files written.
    pub files: u64,
    /// Directories created or changed.
    pub dirs: u64,
    /// Symbolic links written.
    pub symlinks: u64,
    /// Paths removed.
    pub removed: u64,
    /// File content bytes written.
    pub bytes: u64,
}

/// What kind of failure a [`Failure`] is, so the host can map it to its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The host speaks another protocol version.
    Version,
    /// A frame or message was malformed or came at the wrong time.
    Protocol,
    /// A request was well-formed but unusable (a relative path, uid 0, ...).
    InvalidRequest,
    /// Setting the machine up failed.
    Setup,
    /// The step's program was not found.
    ProgramNotFound,
    /// The step's program could not be executed.
    Exec,
    /// The step's working directory could not be entered.
    WorkingDir,
    /// A sync failed (a hostile or broken delta, a full disk).
    Sync,
    /// Anything else the agent could not do.
    Internal,
}

/// A request that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// A message for the user.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// A decoded frame: a control message of type `C` or bulk bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<C> {
    /// A control message.
    Control(C),
    /// Standard output of the running step.
    Stdout(Vec<u8>),
    /// Standard error of the running step.
    Stderr(Vec<u8>),
    /// Part of a delta's removal list.
    Removed(Vec<u8>),
    /// Part of a delta's tar stream.
    Tar(Vec<u8>),
    /// The end of a delta.
    End,
}

/// What the guest receives.
pub type HostMessage = Message<Request>;
/// What the host receives.
pub type GuestMessage = Message<Reply>;

impl<C: DeserializeOwned> Message<C> {
    /// Decodes a frame; a control frame must hold a valid JSON message of type `C`.
    pub fn from_frame(frame: Frame) -> Result<Self, ProtocolError> {
        Ok(match frame.kind {
            FrameKind::Control => {
                Message::Control(serde_json::from_slice(&frame.payload).map_err(|e| {
                    ProtocolError::Malformed {
                        what: std::any::type_name::<C>()
                            .rsplit("::")
                            .next()
                            .unwrap_or("control"),
                        reason: e.to_string(),
                    }
                })?)
            }
            FrameKind::Stdout => Message::Stdout(frame.payload),
            FrameKind::Stderr => Message::Stderr(frame.payload),
            FrameKind::Removed => Message::Removed(frame.payload),
            FrameKind::Tar => Message::Tar(frame.payload),
            FrameKind::End if frame.payload.is_empty() => Message::End,
            FrameKind::End => {
                return Err(ProtocolError::Malformed {
                    what: "end",
                    reason: format!(
                        "an end frame has no payload, this one has {} bytes",
                        frame.payload.len()
                    ),
                })
            }
        })
    }
}

/// Encodes a control message as a frame.
pub fn control_frame<C: Serialize>(message: &C) -> Result<Frame, ProtocolError> {
    let payload = serde_json::to_vec(message).map_err(|e| ProtocolError::Malformed {
        what: "outgoing",
        reason: e.to_string(),
    })?;
    let frame = Frame::new(FrameKind::Control, payload);
    // Checked here so an oversized message fails before anything is written.
    super::frame::encode_header(frame.kind, frame.payload.len())?;
    Ok(frame)
}

/// Checks the version a peer announced.
pub fn check_version(host: u32, guest: u32) -> Result<(), ProtocolError> {
    if host == guest {
        Ok(())
    } else {
        Err(ProtocolError::VersionMismatch { host, guest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_requests() -> Vec<Request> {
        vec![
            Request::Setup(Setup {
                version: PROTOCOL_VERSION,
                clock_unix_ns: Some(1_700_000_000_000_000_000),
                hostname: "hrun".into(),
                step_uid: 1001,
                step_gid: 1001,
                network: Some(NetworkSetup {
                    mac: "52:54:00:12:34:56".into(),
                    address: Ipv4Addr::new(10, 0, 0, 2),
                    prefix_len: 30,
                    gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
                    dns: vec![Ipv4Addr::new(10, 0, 0, 1)],
                    ipv6: Some(Ipv6Setup {
                        address: "fd00::2".parse().expect("address"),
                        prefix_len: 80,
                        gateway: "fd00::1".parse().expect("address"),
                    }),
                }),
            }),
            Request::RunStep(RunStep {
                program: "bash".into(),
                args: vec!["-c".into(), WireBytes(vec![0xff])],
                env: vec![("PATH".into(), "/usr/bin".into())],
                working_dir: "/w".into(),
                timeout_ms: Some(5),
                cancel_grace_ms: 7500,
                max_processes: None,
                memory_bytes: Some(1 << 20),
                sweep: Some(WireSweep {
                    secrets: vec![WireSecret {
                        name: "TOKEN".into(),
                        value: "v".into(),
                    }],
                    rules: true,
                    interval_ms: 150,
                }),
            }),
            Request::Cancel,
            Request::Push(PushRequest {
                root: "/w".into(),
                access: Access::ReadOnly,
            }),
            Request::Pull(PullRequest { root: "/w".into() }),
            Request::Shutdown,
        ]
    }

    #[test]
    fn every_request_round_trips_through_a_frame() {
        for request in sample_requests() {
            let frame = control_frame(&request).unwrap();
            assert_eq!(
                HostMessage::from_frame(frame).unwrap(),
                Message::Control(request)
            );
        }
    }

    #[test]
    fn every_reply_round_trips_through_a_frame() {
        let replies = vec![
            Reply::Hello(Hello {
                version: 1,
                agent_version: "0.1.0".into(),
                kernel_release: "6.1.0".into(),
                boot_ms: 300,
                notes: vec!["x".into()],
                features: vec![FEATURE_SWEEP.into()],
            }),
            Reply::Ready(Ready { boot_ms: 400 }),
            Reply::StepEnded(StepEnded {
                status: WireStatus::Signal(9),
                ending: WireEnding::TimedOut,
                usage: WireUsage::default(),
                limits: vec![WireLimit {
                    kind: WireLimitKind::Processes,
                    applied: true,
                    detail: "RLIMIT_NPROC".into(),
                }],
                output_complete: true,
                sweep: Some(SweepReport::not_swept("x")),
            }),
            Reply::Pushed(SyncStats::default()),
            Reply::Pulled(SyncStats {
                files: 1,
                ..SyncStats::default()
            }),
            Reply::Bye,
            Reply::Error(Failure::new(FailureKind::Sync, "no")),
        ];
        for reply in replies {
            let frame = control_frame(&reply).unwrap();
            assert_eq!(
                GuestMessage::from_frame(frame).unwrap(),
                Message::Control(reply)
            );
        }
    }

    #[test]
    fn messages_of_a_build_without_sweeps_still_decode_and_sweeps_stay_out_unless_asked() {
        // A host or agent built before sweeps sends none of the new fields.
        let old_step = br#"{"type":"run_step","program":"sh","args":[],"env":[],"working_dir":"/","timeout_ms":null,"cancel_grace_ms":1,"max_processes":null,"memory_bytes":null}"#;
        let Message::Control(Request::RunStep(step)) =
            HostMessage::from_frame(Frame::new(FrameKind::Control, old_step.to_vec())).unwrap()
        else {
            panic!("not a step");
        };
        assert_eq!(step.sweep, None);
        let old_hello = br#"{"type":"hello","version":1,"agent_version":"0","kernel_release":"6","boot_ms":1,"notes":[]}"#;
        let Message::Control(Reply::Hello(hello)) =
            GuestMessage::from_frame(Frame::new(FrameKind::Control, old_hello.to_vec())).unwrap()
        else {
            panic!("not a hello");
        };
        assert!(hello.features.is_empty());
        // A step without sweeps is sent as an old agent expects it.
        let frame = control_frame(&Request::RunStep(step)).unwrap();
        assert!(!String::from_utf8_lossy(&frame.payload).contains("sweep"));
        // And a secret never shows in Debug output.
        let secret = WireSecret {
            name: "TOKEN".into(),
            value: "hunter22".into(),
        };
        assert!(!format!("{secret:?}").contains("hunter22"));
    }

    #[test]
    fn control_messages_are_tagged_json() {
        let frame = control_frame(&Request::Cancel).unwrap();
        assert_eq!(frame.payload, br#"{"type":"cancel"}"#);
    }

    #[test]
    fn rejects_malformed_control_frame_with_the_reason() {
        let frame = Frame::new(
            FrameKind::Control,
            br#"{"type":"launch_missiles"}"#.to_vec(),
        );
        let err = HostMessage::from_frame(frame).unwrap_err();
        assert!(
            err.to_string().contains("malformed Request message"),
            "{err}"
        );
        let frame = Frame::new(FrameKind::Control, b"\xff".to_vec());
        assert!(matches!(
            GuestMessage::from_frame(frame),
            Err(ProtocolError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_end_frame_with_payload() {
        let frame = Frame::new(FrameKind::End, vec![1]);
        assert!(HostMessage::from_frame(frame).is_err());
    }

    #[test]
    fn version_mismatch_names_both_versions() {
        let err = check_version(2, 1).unwrap_err().to_string();
        assert!(
            err.contains("version 2") && err.contains("version 1"),
            "{err}"
        );
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
        let mut doc = String::new();
        for _ in 0..100_000 {
            doc.push('[');
        }
        let frame = Frame::new(FrameKind::Control, doc.into_bytes());
        assert!(HostMessage::from_frame(frame).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_control_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = HostMessage::from_frame(Frame::new(FrameKind::Control, bytes.clone()));
            let _ = GuestMessage::from_frame(Frame::new(FrameKind::Control, bytes));
        }

        #[test]
        fn run_step_round_trips_any_bytes(
            program in proptest::collection::vec(any::<u8>(), 0..16),
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..4),
            env in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 1..8), proptest::collection::vec(any::<u8>(), 0..16)), 0..4),
            timeout in proptest::option::of(any::<u64>()),
        ) {
            let request = Request::RunStep(RunStep {
                program: WireBytes(program),
                args: args.into_iter().map(WireBytes).collect(),
                env: env.into_iter().map(|(k, v)| (WireBytes(k), WireBytes(v))).collect(),
                working_dir: "/".into(),
                timeout_ms: timeout,
                cancel_grace_ms: 1,
                max_processes: None,
                memory_bytes: None,
                sweep: None,
            });
            let frame = control_frame(&request).unwrap();
            prop_assert_eq!(HostMessage::from_frame(frame).unwrap(), Message::Control(request));
        }
    }
}
