//! libFuzzer entry point for [`locus_fuzz::msgpack_packet`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| locus_fuzz::msgpack_packet(data));
