use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::mask::Masker;

fn masker(secrets: &[&str]) -> Masker {
    let mut m = Masker::new();
    for s in secrets {
        m.add_value(s);
    }
    m
}

/// Streams `chunks` through a fresh stream masker and returns everything it wrote.
fn stream(m: &Masker, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = m.stream();
    let mut out = Vec::new();
    for chunk in chunks {
        s.write(chunk, &mut out);
    }
    s.finish(&mut out);
    out
}

fn one_byte_at_a_time(m: &Masker, text: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = text.chunks(1).collect();
    stream(m, &chunks)
}

#[test]
fn secret_written_one_byte_at_a_time_is_masked() {
    let m = masker(&["hunter2"]);
    assert_eq!(one_byte_at_a_time(&m, b"pw: hunter2!\n"), b"pw: ***!\n");
}

#[test]
fn secret_split_at_every_boundary_is_masked() {
    let m = masker(&["s3cr3t-value"]);
    let text = b"before s3cr3t-value after\n";
    let whole = m.mask_bytes(text);
    assert_eq!(whole, b"before *** after\n");
    for i in 0..=text.len() {
        let (a, b) = text.split_at(i);
        assert_eq!(stream(&m, &[a, b]), whole, "split at {i}");
        for j in i..=text.len() {
            let (b1, b2) = b.split_at(j - i);
            assert_eq!(stream(&m, &[a, b1, b2]), whole, "split at {i} and {j}");
        }
    }
}

#[test]
fn encodings_split_across_writes_are_masked() {
    let m = masker(&["hunter2"]);
    let encoded = super::super::encodings::base64(b"user:hunter2");
    let text = format!("auth {encoded}\n");
    assert_eq!(
        one_byte_at_a_time(&m, text.as_bytes()),
        m.mask_bytes(text.as_bytes())
    );
    assert!(!m.contains_secret(&one_byte_at_a_time(&m, text.as_bytes())));
}

#[test]
fn only_bytes_that_could_begin_a_secret_are_held_back() {
    let m = masker(&["hunter2"]);
    let mut s = m.stream();
    let mut out = Vec::new();
    s.write(b"hello world\n", &mut out);
    assert_eq!(out, b"hello world\n");
    assert_eq!(s.held_back(), 0);
    s.write(b"pass: hun", &mut out);
    assert_eq!(out, b"hello world\npass: ");
    assert_eq!(s.held_back(), 3);
    s.write(b"ger\n", &mut out);
    assert_eq!(out, b"hello world\npass: hunger\n");
    assert_eq!(s.held_back(), 0);
}

#[test]
fn mask_is_written_as_soon_as_a_secret_is_complete() {
    let m = masker(&["abc", "cdef"]);
    let mut s = m.stream();
    let mut out = Vec::new();
    s.write(b"xabc", &mut out);
    // "abc" is masked already; "c" might still begin "cdef", which would join the same mask.
    assert_eq!(out, b"x***");
    s.write(b"de", &mut out);
    assert_eq!(out, b"x***");
    s.write(b"f y", &mut out);
    assert_eq!(out, b"x*** y");
    s.finish(&mut out);
    assert_eq!(out, m.mask_bytes(b"xabcdef y"));
}

#[test]
fn touching_secrets_across_writes_give_one_mask() {
    let m = masker(&["abc", "def"]);
    assert_eq!(stream(&m, &[b"abc", b"def"]), b"***");
    assert_eq!(stream(&m, &[b"abc", b" ", b"def"]), b"*** ***");
}

#[test]
fn finish_releases_a_held_back_prefix() {
    let m = masker(&["hunter2"]);
    assert_eq!(stream(&m, &[b"x hunt"]), b"x hunt");
}

#[test]
fn a_stream_can_be_reused_after_finish() {
    let m = masker(&["hunter2"]);
    let mut s = m.stream();
    let mut out = Vec::new();
    s.write(b"hun", &mut out);
    s.finish(&mut out);
    s.write(b"ter2 hunter2", &mut out);
    s.finish(&mut out);
    assert_eq!(out, b"hunter2 ***");
}

#[test]
fn multi_line_secret_is_masked_across_lines() {
    let mut m = Masker::new();
    m.add_secret("-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----");
    let text = b"key:\n-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----\ndone\n";
    let out = one_byte_at_a_time(&m, text);
    assert_eq!(out, m.mask_bytes(text));
    assert_eq!(out, b"key:\n***\ndone\n");
    // Its lines printed apart are masked one by one.
    assert_eq!(
        one_byte_at_a_time(&m, b"MIIBOgIBAAJBAK and -----END KEY-----\n"),
        b"*** and ***\n"
    );
}

#[test]
fn values_added_mid_stream_mask_what_was_not_yet_passed_on() {
    let mut m = masker(&["token-0000"]);
    let mut s = m.stream();
    let mut out = Vec::new();
    s.write(b"early token-1 ", &mut out);
    assert_eq!(out, b"early token-1 ");
    // "tok" is held back: it may begin "token-0000".
    s.write(b"zz tok", &mut out);
    assert_eq!(out, b"early token-1 zz ");
    m.add_mask("token-1");
    s.set_matcher(m.matcher());
    s.write(b"en-1 token-1\n", &mut out);
    s.finish(&mut out);
    assert_eq!(out, b"early token-1 zz *** ***\n");
}

#[test]
fn many_secrets_stream_like_the_whole_string() {
    let secrets: Vec<String> = (0..1000).map(|i| format!("sec{i}x{}", i * 31)).collect();
    let mut m = Masker::new();
    for s in &secrets {
        m.add_secret(s);
    }
    let text: String = secrets
        .iter()
        .step_by(7)
        .map(|s| format!("[{s}]"))
        .collect();
    let whole = m.mask_bytes(text.as_bytes());
    assert_eq!(one_byte_at_a_time(&m, text.as_bytes()), whole);
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(13).collect();
    assert_eq!(stream(&m, &chunks), whole);
}

#[test]
fn large_writes_are_processed_in_bounded_pieces() {
    let m = masker(&["needle-in-haystack"]);
    let mut text = vec![b'x'; 3 * PIECE + 5];
    text.extend_from_slice(b"needle-in-haystack");
    text.extend(std::iter::repeat_n(b'y', PIECE));
    let mut s = m.stream();
    let mut out = Vec::new();
    s.write(&text, &mut out);
    assert_eq!(s.held_back(), 0);
    assert!(s.pending.capacity() <= 2 * PIECE + m.matcher().max_len());
    s.finish(&mut out);
    assert_eq!(out, m.mask_bytes(&text));
}

#[test]
fn masking_writer_passes_masked_bytes_on() {
    let m = masker(&["hunter2"]);
    let mut w = m.writer(Vec::new());
    for b in b"one hunter2 two hunt" {
        w.write_all(&[*b]).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(w.get_ref().unwrap(), b"one *** two ");
    assert_eq!(w.held_back(), 4);
    assert_eq!(w.finish().unwrap(), b"one *** two hunt");
}

#[test]
fn dropping_a_masking_writer_releases_what_it_held() {
    let m = masker(&["hunter2"]);
    let mut sink = Vec::new();
    {
        let mut w = m.writer(&mut sink);
        w.write_all(b"a hunter2 b hun").unwrap();
    }
    assert_eq!(sink, b"a *** b hun");
}

#[test]
fn masking_writer_with_no_secrets_passes_everything_through() {
    let m = Masker::new();
    let mut w = m.writer(Vec::new());
    w.write_all(b"plain text").unwrap();
    assert_eq!(w.held_back(), 0);
    assert_eq!(w.finish().unwrap(), b"plain text");
}

fn chunk_at(text: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut prev = 0;
    for p in points {
        chunks.push(text[prev..p].to_vec());
        prev = p;
    }
    chunks.push(text[prev..].to_vec());
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn streaming_equals_whole_string_masking_for_any_chunking(
        secrets in proptest::collection::vec("[ab\"'\n%&]{1,7}", 1..6),
        text in "[ab\"'\n%&YW=]{0,80}",
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut m = Masker::new();
        for s in &secrets {
            m.add_mask(s);
        }
        let text = text.as_bytes();
        let chunks = chunk_at(text, &cuts);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let whole = m.mask_bytes(text);
        prop_assert_eq!(&stream(&m, &refs), &whole);
        prop_assert_eq!(&one_byte_at_a_time(&m, text), &whole);
        prop_assert_eq!(&whole, &crate::mask::tests::reference_mask(&m, text));
    }

    #[test]
    fn streaming_arbitrary_bytes_never_panics(
        secret in any::<String>(),
        data in proptest::collection::vec(any::<u8>(), 0..200),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut m = Masker::new();
        m.add_secret(&secret);
        let chunks = chunk_at(&data, &cuts);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(stream(&m, &refs), m.mask_bytes(&data));
    }
}
