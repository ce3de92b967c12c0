//! Replays the fuzzing corpus kept in tests/fuzz/corpus/ (inputs `cargo fuzz` found interesting,
//! minimized, including any that once crashed): each file through its format's reader, then
//! stage 1 on every record read. None may panic.

use std::path::Path;

use adscreen::ingest::{ingest, records, Format};

fn replay(target: &str, format: Format) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for read in records(Box::new(bytes.as_slice()), format, "fuzz").flatten() {
            ingest(read.record, None);
        }
        inputs += 1;
    }
    assert!(inputs > 10, "{} holds only {inputs} inputs", dir.display());
}

#[test]
fn jsonl_inputs_found_by_fuzzing_are_read_safely() {
    replay("jsonl", Format::Jsonl);
}

#[test]
fn csv_inputs_found_by_fuzzing_are_read_safely() {
    replay("csv", Format::Csv);
}

#[test]
fn text_inputs_found_by_fuzzing_are_read_safely() {
    replay("text", Format::Text);
}
