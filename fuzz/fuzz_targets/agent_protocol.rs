//! Any bytes as the host<->agent channel, in any pieces: the frame decoder, both message types
//! and removal lists never panic, hang or allocate past one frame; a broken stream stays broken.
#![no_main]
use hermetic::vm::protocol::{FrameDecoder, FrameKind, GuestMessage, HostMessage, Message, MAX_FRAME_LEN};
use hermetic::vm::sync::parse_removal_chunk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size the bytes arrive in.
    let Some((&split, rest)) = data.split_first() else { return };
    let piece = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new();
    for chunk in rest.chunks(piece) {
        decoder.feed(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() < MAX_FRAME_LEN);
                    if frame.kind == FrameKind::Removed {
                        let _ = parse_removal_chunk(&frame.payload);
                    }
                    let _ = HostMessage::from_frame(frame.clone());
                    if let Ok(Message::Control(reply)) = GuestMessage::from_frame(frame) {
                        // What decodes must encode again.
                        assert!(hermetic::vm::protocol::control_frame(&reply).is_ok());
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    assert!(decoder.next_frame().is_err());
                    return;
                }
            }
        }
        assert!(decoder.buffered() <= MAX_FRAME_LEN + 4 + piece);
    }
});
