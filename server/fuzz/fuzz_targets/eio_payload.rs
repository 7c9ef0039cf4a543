//! libFuzzer entry point for [`locus_fuzz::eio_payload`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| locus_fuzz::eio_payload(data));
