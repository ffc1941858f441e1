//! Write-ahead append time against the buffer's size: empty, 1, 5 and 10 MiB, each held by
//! the same number of records (10), so only the bytes change.
//!
//! ```text
//! cargo bench -p charm-tracing-benches --bench buffer
//! ```

use charm_tracing_runtime::__bench::Buffer;
use divan::Bencher;

fn main() {
    divan::main();
}

/// A 10 KiB record: about what a 100-span hook encodes to.
const RECORD: usize = 10 * 1024;
const PREFILL_RECORDS: usize = 10;

#[divan::bench(args = [0, 1, 5, 10])]
fn append_10_kib_record(bencher: Bencher, prefilled_mib: usize) {
    let dir = std::env::temp_dir().join(format!(
        "charm-tracing-bench-buffer-{}-{prefilled_mib}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("buffer");
    let buffer = Buffer::new(path.clone(), 100, 20);
    if prefilled_mib > 0 {
        let big = vec![0x5au8; prefilled_mib * 1024 * 1024 / PREFILL_RECORDS];
        for _ in 0..PREFILL_RECORDS {
            assert!(buffer.append(&big));
        }
    } else {
        assert!(buffer.append(&[]));
    }
    let prefilled_len = std::fs::metadata(&path).expect("buffer").len();
    let record = vec![0xa5u8; RECORD];
    bencher
        .with_inputs(|| {
            // Back to the prefilled state: every measured append sees the same buffer.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open");
            file.set_len(prefilled_len).expect("truncate");
        })
        .bench_local_values(|()| assert!(buffer.append(&record)));
    let _ = std::fs::remove_dir_all(&dir);
}
