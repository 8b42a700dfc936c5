//! The JSON request decoder of every operation (the generated wire layer,
//! crates/kms-api/src/dispatch.rs): the first byte picks the operation of
//! the model, the rest is the request body.
//!
//! Invariants: never a panic; a request the model refuses gets an AWS 4xx
//! (SerializationException, ValidationException, InvalidGrantTokenException),
//! never an internal error; a request it accepts re-encodes to the same
//! members.
#![no_main]

use kms_core::model::Operation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let op = Operation::ALL[pick as usize % Operation::ALL.len()];
    let target = format!("TrentService.{}", op.name());
    match kms_api::decode_request(&target, body) {
        Ok(same) => assert!(same, "{target}: a decoded request does not re-encode to the same members"),
        Err(e) => {
            let aws = kms_api::error::to_aws(&e);
            assert_eq!(aws.status.as_u16(), 400, "{target}: {} {:?}", aws.type_name, aws.message);
            assert!(
                matches!(aws.type_name, "SerializationException" | "ValidationException" | "InvalidGrantTokenException"),
                "{target}: {}",
                aws.type_name
            );
        }
    }
});
