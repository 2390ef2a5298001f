//! The SQS message parser (S3 notifications, SNS-wrapped or from EventBridge) on arbitrary
//! text: it answers Ok or an error that says why, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        let _ = trawl_fuzz::notification::parse(body);
    }
});
