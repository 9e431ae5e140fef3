//! `wire::http::ChunkedDecoder`: decoding in arbitrary pieces must give the same body and
//! outcome as decoding everything at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::wire::http::{ChunkError, ChunkedDecoder};
use netboot_fuzz::split_points;

/// Body bytes, whether the body ended, the error if any, and the unconsumed tail length.
fn decode_all(pieces: &[&[u8]]) -> (Vec<u8>, bool, Option<ChunkError>, usize) {
    let mut dec = ChunkedDecoder::new();
    let mut body = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let mut input = *piece;
        loop {
            if dec.is_done() {
                let tail = input.len() + pieces[i + 1..].iter().map(|p| p.len()).sum::<usize>();
                return (body, true, None, tail);
            }
            if input.is_empty() {
                break;
            }
            match dec.decode(input) {
                Ok((used, data)) => {
                    assert!(used <= input.len(), "consumed more than given");
                    if let Some(data) = data {
                        assert!(!data.is_empty(), "empty data slice");
                        body.extend_from_slice(data);
                    } else if !dec.is_done() {
                        assert_eq!(used, input.len(), "stopped early without data or end");
                    }
                    input = &input[used..];
                }
                Err(e) => return (body, false, Some(e), 0),
            }
        }
    }
    let done = dec.is_done();
    (body, done, None, 0)
}

fuzz_target!(|data: &[u8]| {
    let (pieces, whole) = split_points(data);
    let at_once = decode_all(&[whole]);
    let streamed = decode_all(&pieces);
    assert_eq!(at_once.1, streamed.1, "done differs when streamed");
    assert_eq!(at_once.2, streamed.2, "error differs when streamed");
    assert_eq!(
        at_once.3, streamed.3,
        "unconsumed tail differs when streamed"
    );
    if at_once.2.is_none() {
        assert_eq!(at_once.0, streamed.0, "body differs when streamed");
    }
});
