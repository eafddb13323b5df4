//! The payment platform's confirmation (`POST /v1/callbacks/payment`): any body is parsed or
//! refused, its `MaXacThuc` checked in constant time, never a panic; a confirmation verifies
//! only with the key its hash was made with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_certs::Secret;
use lienthong_connectors::payment::PaymentConfirmation;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = PaymentConfirmation::parse(data) else {
        return;
    };
    let _ = c.verify(&Secret::new("khoa-thanh-toan"));
    let _ = (c.paid(), c.reference(), c.transaction(), c.at(), c.data());
});
