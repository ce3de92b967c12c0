//! Arbitrary bytes as a csv input: the reader, then stage 1 (normalize, language, entities) on
//! every record it accepts. Nothing may panic, hang or blow up memory.
#![no_main]

use adscreen::ingest::{ingest, records, Format};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for read in records(Box::new(data), Format::Csv, "fuzz").flatten() {
        ingest(read.record, None);
    }
});
