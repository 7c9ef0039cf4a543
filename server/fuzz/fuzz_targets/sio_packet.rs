//! libFuzzer entry point for [`locus_fuzz::sio_packet`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| locus_fuzz::sio_packet(data));
