//! Feeds arbitrary bytes to the decoder in pseudo-random chunks and checks its invariants:
//! consumed + remaining == fed after every call, what remains is the unconsumed suffix, errors
//! are sticky, and the frames, per-frame byte counts and final error are the same as when the
//! input arrives in one piece.
#![no_main]

use bytes::BytesMut;
use corelane_redis_proto::{DecodeError, Decoder, Limits};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Run {
    frames: Vec<(bool, bytes::Bytes, usize)>,
    error: Option<DecodeError>,
    partial: usize,
    remaining: Option<usize>,
}

fn run(input: &[u8], cuts: &[usize], limits: Limits) -> Run {
    let mut d = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let (mut fed, mut consumed, mut frame_start) = (0, 0, 0);
    let mut frames = Vec::new();
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            let before = buf.len();
            let out = d.decode(&mut buf);
            assert!(buf.len() <= before, "decode grew the buffer");
            consumed += before - buf.len();
            assert_eq!(consumed + buf.len(), fed);
            assert_eq!(&buf[..], &input[consumed..fed]);
            match out {
                Ok(Some(frame)) => {
                    frames.push((
                        frame.is_push(),
                        frame.into_value().to_bytes(),
                        consumed - frame_start,
                    ));
                    frame_start = consumed;
                }
                Ok(None) => {
                    assert_eq!(d.partial_len(), consumed - frame_start);
                    break;
                }
                Err(e) => {
                    assert_eq!(d.decode(&mut buf), Err(e.clone()));
                    return Run {
                        frames,
                        error: Some(e),
                        partial: 0,
                        remaining: None,
                    };
                }
            }
        }
    }
    Run {
        frames,
        error: None,
        partial: consumed - frame_start,
        remaining: Some(buf.len()),
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: limits; next 8: chunking seed; the rest: the stream.
    let Some((&knobs, rest)) = data.split_first() else {
        return;
    };
    if rest.len() < 8 {
        return;
    }
    let (seed, input) = rest.split_at(8);
    let mut state = u64::from_le_bytes(seed.try_into().unwrap_or_default()) | 1;
    let limits = Limits::default()
        .with_max_depth(usize::from(knobs % 16))
        .with_max_bulk_len(usize::from(knobs) * 4);
    let mut cuts = Vec::new();
    let mut at = 0usize;
    loop {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        at += 1 + (state % 16) as usize;
        if at >= input.len() {
            break;
        }
        cuts.push(at);
    }
    let whole = run(input, &[], limits);
    let pieces = run(input, &cuts, limits);
    assert_eq!(whole, pieces);
    if let Some(remaining) = whole.remaining {
        let total: usize = whole.frames.iter().map(|f| f.2).sum();
        assert_eq!(total + whole.partial + remaining, input.len());
    }
});
