//! Steady-state decoding allocates no pixel storage.
//!
//! The buffer counters are process-wide, so this binary holds a single test and nothing
//! else allocates pixel buffers while it runs.

mod common;

use std::collections::VecDeque;

use common::{asset, context};
use visualpath_core::buffer::stats;
use visualpath_media::{FileSource, FileSourceConfig, SyntheticConfig};
use visualpath_sdk::{Name, Poll, Source, SourceContext};

/// Pulls `n` frames, keeping the last `hold` alive (like a downstream queue), and returns
/// the pixel storages allocated during the first `warmup` frames and after them.
fn allocations(
    src: &mut dyn Source,
    cx: &SourceContext,
    n: usize,
    hold: usize,
    warmup: usize,
) -> (u64, u64, u64) {
    let mut held = VecDeque::new();
    let start = stats();
    let mut after_warmup = start;
    for i in 0..n {
        if i == warmup {
            after_warmup = stats();
        }
        match src.next_frame(cx).unwrap() {
            Poll::Frame(f) => {
                held.push_back(f);
                if held.len() > hold {
                    held.pop_front();
                }
            }
            Poll::Eos => panic!("ended after {i} frames"),
        }
    }
    let end = stats();
    (
        after_warmup.allocated - start.allocated,
        end.allocated - after_warmup.allocated,
        end.reused - after_warmup.reused,
    )
}

#[test]
fn sources_reuse_pixel_storage_in_steady_state() {
    let (_clock, cx) = context();

    let mut synth = SyntheticConfig::default()
        .build(Name::from_static("synth"))
        .unwrap();
    let (warm, steady, reused) = allocations(synth.as_mut(), &cx, 300, 3, 10);
    assert!(
        (1..=4).contains(&warm),
        "{warm} allocations while warming up"
    );
    assert_eq!(steady, 0, "synthetic frames allocated after warm-up");
    assert_eq!(reused, 290);
    let copies_before = stats().copies;

    let Some(path) = asset("vtest.avi") else {
        return;
    };
    let mut src = FileSource::open(
        Name::from_static("cam"),
        &FileSourceConfig::new(path.to_str().unwrap()),
    )
    .unwrap();
    // Frames dropped at once: one or two storages cycle.
    let (warm, steady, reused) = allocations(&mut src, &cx, 300, 0, 10);
    assert!(
        (1..=2).contains(&warm),
        "{warm} allocations while warming up"
    );
    assert_eq!(steady, 0, "decoded frames allocated after warm-up");
    assert_eq!(reused, 290);
    // Frames held by a consumer for a while: the pool grows to the queue depth, then stops.
    let (warm, steady, reused) = allocations(&mut src, &cx, 300, 5, 20);
    assert!(warm <= 6, "{warm} allocations while warming up");
    assert_eq!(steady, 0, "decoded frames allocated after warm-up");
    assert_eq!(reused, 280);
    assert_eq!(
        stats().copies,
        copies_before,
        "no pixel copies were counted"
    );
}
