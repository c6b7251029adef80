//! A partition directory whose active segment (and its indexes) hold arbitrary bytes,
//! as a crash or a bad disk may leave it: recovery must repair or refuse, never panic,
//! and what it keeps must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use riffle::config::TopicConfig;
use riffle::log::PartitionLog;

fuzz_target!(|data: &[u8]| {
    // The input is split into the .log, .index and .timeindex files.
    let (log, rest) = data.split_at(data.len() * 3 / 4);
    let (index, timeindex) = rest.split_at(rest.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("00000000000000000000");
    std::fs::write(base.with_extension("log"), log).unwrap();
    std::fs::write(base.with_extension("index"), index).unwrap();
    std::fs::write(base.with_extension("timeindex"), timeindex).unwrap();
    if let Ok((log, _repairs)) = PartitionLog::open(dir.path(), TopicConfig::default(), 1_700_000_000_000) {
        let end = log.log_end_offset();
        let mut next = log.log_start_offset();
        while next < end {
            let Ok(bytes) = log.read_bytes(next, 1 << 20, true, end) else { break };
            let before = next;
            for batch in riffle::log::records::split_batches(bytes) {
                let Ok((h, _)) = batch else { break };
                next = next.max(h.next_offset());
            }
            if next == before {
                break;
            }
        }
    }
    let _ = riffle::log::verify_dir(dir.path());
});
