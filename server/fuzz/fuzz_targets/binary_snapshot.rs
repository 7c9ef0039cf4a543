//! libFuzzer entry point for [`locus_fuzz::binary_snapshot`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| locus_fuzz::binary_snapshot(data));
