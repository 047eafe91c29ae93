//! Fuzzes the relay's frame decoder: any bytes a client can send in a text frame. Decoding
//! must never panic, and every frame it accepts must encode and decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use movietalk_protocol::relay::{decode_client, request_id};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = request_id(text);
    if let Ok(msg) = decode_client(text) {
        let again = decode_client(&msg.to_json()).expect("an encoded frame decodes");
        assert_eq!(again, msg, "decode(encode(m)) == m");
    }
});
