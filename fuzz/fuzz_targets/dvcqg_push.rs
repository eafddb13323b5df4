//! The national portal's pushes (`POST /v1/callbacks/dvcqg`: dossiers with inline files, tax
//! notices, receipts): any body is parsed or refused, its `SecurityKey` compared in constant
//! time, its date read, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_certs::Secret;
use lienthong_connectors::dvcqg::push::PortalPush;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = PortalPush::parse(data) else {
        return;
    };
    let _ = p.authenticate(&Secret::new("khoa-chung"));
    let _ = (p.dated(), p.dedupe_key());
});
