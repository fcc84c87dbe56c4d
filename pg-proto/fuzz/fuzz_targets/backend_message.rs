//! Feeds arbitrary bytes to the backend decoder in arbitrary chunks and checks its invariants:
//! `None` consumes nothing, `Some` consumes exactly one header's frame, consumed + remaining ==
//! input, and the header peek agrees with the parse.
#![no_main]

use bytes::{BufMut, BytesMut};
use corelane_pg_proto::message::backend::{Header, Message};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size so messages are split at many offsets.
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    loop {
        let before = buf.len();
        let header = Header::parse_with_max(&buf, MAX);
        match Message::parse_with_max(&mut buf, MAX) {
            Ok(Some(_)) => {
                let n = before - buf.len();
                let h = header.ok().flatten().expect("Some without a header");
                assert_eq!(n, h.frame_len(), "consumed exactly one frame");
                consumed += n;
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "None consumes nothing");
                assert!(matches!(header, Ok(_)));
                if fed == input.len() {
                    break;
                }
                let end = (fed + chunk).min(input.len());
                buf.put_slice(&input[fed..end]);
                fed = end;
            }
            Err(_) => {
                break;
            }
        }
        assert_eq!(consumed + buf.len(), fed, "consumed + remaining == input");
        assert_eq!(&buf[..], &input[consumed..fed]);
    }
});
