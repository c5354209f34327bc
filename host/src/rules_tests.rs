// SPDX-License-Identifier: GPL-2.0

//! The read, write and poll rules, checked on their edges.

use crate::rules::{
    overwrite_record_max, poll_writable, poll_writable_in, rate_is_valid, write_is_atomic,
    write_room, Mode, Source, WriterWatch, ATOMIC_WRITE_MAX, RATE_MAX, RATE_MIN,
};

#[test]
fn atomic_writes_fit_pipe_buf_and_capacity() {
    assert!(write_is_atomic(1, 1));
    assert!(write_is_atomic(ATOMIC_WRITE_MAX, ATOMIC_WRITE_MAX));
    assert!(!write_is_atomic(ATOMIC_WRITE_MAX + 1, 1 << 20));
    assert!(!write_is_atomic(65, 64));
    assert!(write_is_atomic(64, 64));
}

#[test]
fn atomic_writes_wait_for_all_their_room() {
    assert_eq!(write_room(10, 9, true), 0);
    assert_eq!(write_room(10, 10, true), 10);
    assert_eq!(write_room(10, 9, false), 9);
    assert_eq!(write_room(10, 0, false), 0);
    assert_eq!(write_room(3, 100, false), 3);
}

#[test]
fn poll_wants_room_for_one_atomic_write() {
    assert!(!poll_writable(ATOMIC_WRITE_MAX - 1, 1 << 16));
    assert!(poll_writable(ATOMIC_WRITE_MAX, 1 << 16));
    // A ring smaller than PIPE_BUF is writable only when empty.
    assert!(poll_writable(64, 64));
    assert!(!poll_writable(63, 64));
}

#[test]
fn reader_opened_first_waits_for_a_writer() {
    let watch = WriterWatch::new(0, false, 5);
    assert!(!watch.at_eof(0, 5), "no writer yet: wait, not EOF");
    assert!(!watch.at_eof(1, 6), "writer present");
    assert!(watch.at_eof(0, 6), "the writer came and went");
}

#[test]
fn reader_opened_with_a_writer_or_data_sees_eof_after_it() {
    assert!(WriterWatch::new(1, false, 1).at_eof(0, 1));
    assert!(WriterWatch::new(0, true, 1).at_eof(0, 1));
    assert!(!WriterWatch::new(1, false, 1).at_eof(1, 1));
}

#[test]
fn modes_round_trip_through_their_uapi_numbers() {
    for mode in [Mode::Block, Mode::Overwrite] {
        assert_eq!(Mode::from_uapi(mode.to_uapi()), Some(mode));
    }
    assert_eq!(Mode::from_uapi(0), Some(Mode::Block));
    assert_eq!(Mode::from_uapi(1), Some(Mode::Overwrite));
    assert_eq!(Mode::from_uapi(2), None);
    assert_eq!(Mode::from_uapi(u64::MAX), None);
}

#[test]
fn overwrite_mode_is_always_writable_and_block_mode_needs_room() {
    assert!(poll_writable_in(Mode::Overwrite, 0, 1 << 16));
    assert!(!poll_writable_in(Mode::Block, 0, 1 << 16));
    assert!(poll_writable_in(Mode::Block, ATOMIC_WRITE_MAX, 1 << 16));
    assert_eq!(overwrite_record_max(1 << 16), ATOMIC_WRITE_MAX);
    assert_eq!(overwrite_record_max(100), 100);
}

#[test]
fn modes_and_sources_round_trip_their_uapi_numbers_and_have_names() {
    for mode in [Mode::Block, Mode::Overwrite] {
        assert_eq!(Mode::from_uapi(mode.to_uapi()), Some(mode));
    }
    for source in [Source::None, Source::Thermal] {
        assert_eq!(Source::from_uapi(source.to_uapi()), Some(source));
    }
    assert_eq!(Source::from_uapi(2), None);
    assert_eq!(Source::from_uapi(u64::MAX), None);
    let names = [
        Mode::Block.name(),
        Mode::Overwrite.name(),
        Source::None.name(),
        Source::Thermal.name(),
    ];
    assert_eq!(names, ["block", "overwrite", "none", "thermal"]);
}

#[test]
fn rates_are_valid_from_min_to_max_only() {
    assert!(!rate_is_valid(0));
    assert!(rate_is_valid(RATE_MIN.into()));
    assert!(rate_is_valid(RATE_MAX.into()));
    assert!(!rate_is_valid(u64::from(RATE_MAX) + 1));
    assert!(!rate_is_valid(u64::MAX));
}
