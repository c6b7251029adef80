//! Record batch bytes as a producer (or a disk) may hand them over: header validation,
//! and every place that reads records inside a batch.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use riffle::log::{batch, cleaner, records};

fuzz_target!(|data: &[u8]| {
    let _ = batch::validate(data);
    let _ = batch::check_stored(data);
    let _ = batch::record_timestamps(data);
    let bytes = Bytes::copy_from_slice(data);
    let _ = cleaner::all_records_keyed(&bytes);
    if let Ok(h) = batch::BatchHeader::parse(data) {
        let _ = records::raw_records(&h, &bytes);
        let _ = records::check_uncompressed(&h, data);
    }
    for b in records::split_batches(bytes) {
        if b.is_err() {
            break;
        }
    }
});
