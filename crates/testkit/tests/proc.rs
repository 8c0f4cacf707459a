//! `open_fds` and `rss_kb` against changes this test makes itself. Alone in its test
//! binary, so no other test opens files or allocates at the same time.

use visualpath_testkit::{open_fds, rss_kb};

#[test]
fn fd_and_rss_counters_follow_what_the_process_does() {
    let before = open_fds();
    assert!(before >= 3, "stdin, stdout and stderr at least: {before}");
    let files: Vec<std::fs::File> = (0..5)
        .map(|_| std::fs::File::open("/proc/self/status").unwrap())
        .collect();
    assert_eq!(open_fds(), before + 5);
    drop(files);
    assert_eq!(open_fds(), before);

    let rss = rss_kb();
    assert!(
        rss > 1_000,
        "a running test binary uses more than 1 MB: {rss} kB"
    );
    // 64 MiB, every page written (a large allocation is its own mmap).
    let block = vec![1u8; 64 << 20];
    let grown = rss_kb();
    assert!(
        grown >= rss + 48 * 1024,
        "{rss} kB -> {grown} kB after touching 64 MiB"
    );
    assert_eq!(block.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 << 20);
    drop(block);
    let shrunk = rss_kb();
    assert!(
        shrunk + 32 * 1024 < grown,
        "{grown} kB -> {shrunk} kB after freeing 64 MiB"
    );
}
