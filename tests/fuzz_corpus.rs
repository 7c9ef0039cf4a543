//! Replays the fuzzing corpus on stable Rust: every file under
//! `server/fuzz/seeds/<target>/` goes through the same harness the cargo-fuzz
//! target `<target>` runs (`server/fuzz/src/lib.rs`, included here), which
//! panics when a decoder panics or a round trip changes a packet. Crashes
//! found by fuzzing are saved here so they stay fixed; see
//! `server/fuzz/README.md`.

#[path = "../server/fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

/// The corpus files of `target`, sorted; the folder must exist and be seeded.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("server/fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus file", dir.display());
    files
}

/// Runs `harness` on every corpus file of `target`; names every file that panics.
fn replay(target: &str, harness: fn(&[u8])) {
    let failures: Vec<String> = corpus(target)
        .into_iter()
        .filter_map(|path| {
            let data = std::fs::read(&path).expect("read corpus file");
            std::panic::catch_unwind(|| harness(&data))
                .err()
                .map(|_| path.display().to_string())
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{target}: these inputs panic: {failures:#?}"
    );
}

#[test]
fn eio_packet_corpus_never_panics() {
    replay("eio_packet", harness::eio_packet);
}

#[test]
fn eio_payload_corpus_never_panics() {
    replay("eio_payload", harness::eio_payload);
}

#[test]
fn sio_packet_corpus_never_panics() {
    replay("sio_packet", harness::sio_packet);
}

#[test]
fn msgpack_packet_corpus_never_panics() {
    replay("msgpack_packet", harness::msgpack_packet);
}

#[test]
fn binary_snapshot_corpus_never_panics() {
    replay("binary_snapshot", harness::binary_snapshot);
}
