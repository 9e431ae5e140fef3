//! `proto::http::ResponseReader` fed a response in arbitrary pieces (then EOF): events
//! must agree with feeding it all at once; redirects are classified as the client does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netboot_core::proto::http::{
    Event, HeadInfo, HttpConfig, HttpError, Method, Redirects, ResponseReader,
};
use netboot_fuzz::split_points;

#[derive(Debug, PartialEq)]
struct Outcome {
    head: Option<HeadInfo>,
    body: Vec<u8>,
    done: bool,
    error: Option<HttpError>,
    eof: Option<Result<(), HttpError>>,
    reusable: bool,
}

fn read(method: Method, pieces: &[&[u8]]) -> Outcome {
    let mut reader = ResponseReader::new(method, HttpConfig::default(), 0);
    let mut out = Outcome {
        head: None,
        body: Vec::new(),
        done: false,
        error: None,
        eof: None,
        reusable: false,
    };
    'pieces: for (t, piece) in pieces.iter().enumerate() {
        let mut input = *piece;
        let mut spins = 0;
        loop {
            match reader.feed(t as u64, input) {
                Ok((used, event)) => {
                    assert!(used <= input.len(), "consumed more than given");
                    input = &input[used..];
                    match event {
                        None => {
                            assert!(input.is_empty(), "None with input left");
                            break;
                        }
                        Some(Event::Head(info)) => {
                            assert!(out.head.is_none(), "two final heads");
                            out.head = Some(info);
                            let head = reader.head().expect("head after Event::Head");
                            let _ = Redirects::default().check(head);
                        }
                        Some(Event::Body(b)) => {
                            assert!(out.head.is_some(), "body before head");
                            out.body.extend_from_slice(b);
                        }
                        Some(Event::Done) => {
                            out.done = true;
                            break 'pieces;
                        }
                    }
                    spins += 1;
                    assert!(spins < 1 << 20, "feed makes no progress");
                }
                Err(e) => {
                    out.error = Some(e);
                    break 'pieces;
                }
            }
        }
    }
    assert_eq!(
        reader.body_received(),
        out.body.len() as u64,
        "body_received miscounts"
    );
    if let Some(HeadInfo {
        content_length: Some(n),
        chunked: false,
        ..
    }) = out.head
        && method == Method::Get
    {
        assert!(
            out.body.len() as u64 <= n,
            "body longer than Content-Length"
        );
    }
    if out.error.is_none() {
        out.eof = Some(reader.eof());
    }
    out.reusable = reader.can_reuse();
    let _ = reader.poll_timeout(u64::MAX);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = if m & 1 == 0 {
        Method::Get
    } else {
        Method::Head
    };
    let (pieces, whole) = split_points(rest);
    let at_once = read(method, &[whole]);
    let streamed = read(method, &pieces);
    assert_eq!(at_once.head, streamed.head, "head differs when streamed");
    assert_eq!(at_once.error, streamed.error, "error differs when streamed");
    assert_eq!(
        at_once.done, streamed.done,
        "completion differs when streamed"
    );
    if at_once.error.is_none() {
        assert_eq!(at_once.body, streamed.body, "body differs when streamed");
        assert_eq!(
            at_once.eof, streamed.eof,
            "EOF result differs when streamed"
        );
    }
});
