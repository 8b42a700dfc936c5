//! The peer protocol's messages (crates/kms-core/src/service/replication.rs)
//! and answer signatures (crates/kms-api/src/peer.rs).
//!
//! Any body: decoding a `PeerMessage` never panics; a message that decodes
//! encodes again and decodes to the same JSON; and `response_signature`
//! over any header and body never panics and gives 64 hex digits or `None`.
#![no_main]

use kms_api::peer::response_signature;
use kms_core::crypto::SecretString;
use kms_core::service::PeerMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = serde_json::from_slice::<PeerMessage>(data) {
        let _ = (msg.version(), msg.to_region());
        let once = serde_json::to_value(&msg).expect("a decoded message encodes");
        let again: PeerMessage = serde_json::from_value(once.clone()).expect("an encoded message decodes");
        assert_eq!(serde_json::to_value(&again).expect("encodes"), once);
    }
    let (header, body) = data.split_at(data.len() / 2);
    let secret = SecretString::new("fuzz peer secret, long enough to be accepted".into());
    if let Some(sig) = response_signature(&secret, &String::from_utf8_lossy(header), body) {
        assert!(sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()));
    }
});
