//! Proves the zero-copy claim with a counting allocator: fanning a frame out to several
//! analyzers and a sink allocates no frame-sized buffer beyond the one the source fills.
//!
//! Frames are 640x480 gray (307,200 bytes); nothing else in the pipeline allocates that
//! much, so counting allocations of at least that size counts pixel buffers.

// A global allocator can only be written with `unsafe`; it forwards to `System`.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use visualpath_runtime::{AnalyzerOptions, Executor, PipelineBuilder, SinkOptions, SourceOptions};

const FRAME_BYTES: usize = 640 * 480;

struct Counting;

static BIG: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= FRAME_BYTES {
            BIG.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= FRAME_BYTES && layout.size() < FRAME_BYTES {
            BIG.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn fan_out_allocates_one_frame_buffer_per_frame() {
    const FRAMES: u64 = 120;
    let mut p = PipelineBuilder::new();
    p.executor(Executor::Pool { threads: 2 });
    let mut src = TestSource::new("cam", Some(FRAMES));
    src.size = (640, 480);
    let cam = p.source("cam", Box::new(src), SourceOptions::default());
    let out = Collect::default();
    let sink = p.sink("out", out.boxed(), SinkOptions::default());
    let probes: Vec<Probe> = (0..4).map(|_| Probe::seq()).collect();
    let mut prev = None;
    for (i, pr) in probes.iter().enumerate() {
        let a = p.analyzer(&format!("a{i}"), pr.factory(), AnalyzerOptions::default());
        p.link(cam).to(a).to(sink);
        if let Some(prev) = prev {
            // A second path to a3 as well: joins must not copy either.
            p.link(prev).to(a);
        }
        prev = Some(a);
    }
    let pipeline = p.build().unwrap();
    let before = BIG.load(Ordering::SeqCst);
    let report = pipeline.run().unwrap();
    let big = BIG.load(Ordering::SeqCst) - before;
    assert_eq!(report.node("cam").unwrap().processed, FRAMES);
    assert_eq!(
        big, FRAMES,
        "expected exactly one frame-sized allocation per frame (the source's), got {big}"
    );
    assert_eq!(report.buffers.copies, 0);
    assert_eq!(out.records().len() as u64, FRAMES * 4);
}
