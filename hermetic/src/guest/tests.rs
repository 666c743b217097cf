//! The agent's request loop at the frame level: how it answers malformed, misplaced and
//! oversized input. (Steps and sync end to end are tested with the client, in
//! `vm/client/tests.rs`.)

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

use super::testing::DirMachine;
use super::{GuestAgent, ServeEnd};
use crate::vm::protocol::{
    control_frame, read_frame, write_frame, FailureKind, FrameKind, GuestMessage, Message,
    ProtocolError, Reply, Request,
};

fn agent() -> (
    UnixStream,
    JoinHandle<Result<ServeEnd, String>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let machine = DirMachine::new(dir.path());
    let (host, guest) = UnixStream::pair().unwrap();
    let handle = std::thread::spawn(move || {
        GuestAgent::new(machine, guest)
            .serve()
            .map_err(|e| e.to_string())
    });
    (host, handle, dir)
}

fn next(host: &mut UnixStream) -> GuestMessage {
    let frame = read_frame(host).unwrap().unwrap();
    GuestMessage::from_frame(frame).unwrap()
}

fn request(host: &mut UnixStream, request: &Request) {
    let frame = control_frame(request).unwrap();
    write_frame(host, frame.kind, &frame.payload).unwrap();
}

fn expect_error(host: &mut UnixStream, kind: FailureKind) -> String {
    match next(host) {
        Message::Control(Reply::Error(failure)) => {
            assert_eq!(failure.kind, kind, "{}", failure.message);
            failure.message
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn says_hello_first_with_its_version_and_notes() {
    let (mut host, handle, _dir) = agent();
    match next(&mut host) {
        Message::Control(Reply::Hello(hello)) => {
            assert_eq!(hello.version, crate::vm::protocol::PROTOCOL_VERSION);
            assert_eq!(hello.notes, vec!["test machine".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    drop(host);
    assert_eq!(handle.join().unwrap(), Ok(ServeEnd::HostGone));
}

#[test]
fn answers_a_malformed_control_frame_with_an_error_and_keeps_serving() {
    let (mut host, handle, _dir) = agent();
    next(&mut host);
    write_frame(&mut host, FrameKind::Control, b"{\"type\":\"format_disk\"}").unwrap();
    let message = expect_error(&mut host, FailureKind::Protocol);
    assert!(message.contains("malformed"), "{message}");
    write_frame(&mut host, FrameKind::Control, b"\xff\xfe").unwrap();
    expect_error(&mut host, FailureKind::Protocol);
    // A data frame outside a delta.
    write_frame(&mut host, FrameKind::Tar, b"xx").unwrap();
    expect_error(&mut host, FailureKind::Protocol);
    request(&mut host, &Request::Shutdown);
    assert!(matches!(next(&mut host), Message::Control(Reply::Bye)));
    assert_eq!(handle.join().unwrap(), Ok(ServeEnd::Shutdown));
}

#[test]
fn stops_at_a_frame_that_breaks_the_framing() {
    let (mut host, handle, _dir) = agent();
    next(&mut host);
    host.write_all(&[0xff, 0xff, 0xff, 0xff, 1]).unwrap();
    let end = handle.join().unwrap();
    assert!(end.is_err_and(|e| e.contains("over the limit")));
    let (mut host, handle, _dir) = agent();
    next(&mut host);
    host.write_all(&[0, 0, 0, 1, 99]).unwrap();
    assert!(handle
        .join()
        .unwrap()
        .is_err_and(|e| e.contains("unknown frame kind 99")));
}

#[test]
fn refuses_steps_and_syncs_before_setup() {
    let (mut host, handle, _dir) = agent();
    next(&mut host);
    request(
        &mut host,
        &Request::Pull(crate::vm::protocol::PullRequest { root: "/w".into() }),
    );
    expect_error(&mut host, FailureKind::Protocol);
    // A push before setup is refused, and its delta frames are consumed, not misread.
    request(
        &mut host,
        &Request::Push(crate::vm::protocol::PushRequest {
            root: "/w".into(),
            access: crate::vm::protocol::Access::Writable,
        }),
    );
    write_frame(&mut host, FrameKind::Removed, b"a\0").unwrap();
    write_frame(&mut host, FrameKind::Tar, &[0; 1024]).unwrap();
    write_frame(&mut host, FrameKind::End, &[]).unwrap();
    expect_error(&mut host, FailureKind::Protocol);
    request(&mut host, &Request::Shutdown);
    assert!(matches!(next(&mut host), Message::Control(Reply::Bye)));
    assert_eq!(handle.join().unwrap(), Ok(ServeEnd::Shutdown));
}

#[test]
fn refuses_a_relative_or_dotted_sync_root() {
    let (mut host, handle, _dir) = agent();
    next(&mut host);
    let uid = super::testing::test_uid();
    request(
        &mut host,
        &Request::Setup(crate::vm::protocol::Setup::new("h", uid, uid)),
    );
    assert!(matches!(next(&mut host), Message::Control(Reply::Ready(_))));
    for root in ["relative/dir", "/a/../etc", "/a/./b", "/a//b", ""] {
        request(
            &mut host,
            &Request::Pull(crate::vm::protocol::PullRequest { root: root.into() }),
        );
        expect_error(&mut host, FailureKind::InvalidRequest);
    }
    drop(host);
    assert_eq!(handle.join().unwrap(), Ok(ServeEnd::HostGone));
}

#[test]
fn a_truncated_frame_at_the_end_is_an_error() {
    let (mut host, handle, _dir) = agent();
    next(&mut host);
    host.write_all(&[0, 0, 0, 9, 1, b'{']).unwrap();
    drop(host);
    let end = handle.join().unwrap();
    assert!(end.is_err_and(|e| e.contains(&ProtocolError::Truncated.to_string())));
}
