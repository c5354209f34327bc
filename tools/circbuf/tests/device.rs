// SPDX-License-Identifier: GPL-2.0
//! Exercises `Device` and `SampleReader` on the host, where no circbuf
//! exists: a FIFO stands in for the byte stream (read, write, O_NONBLOCK,
//! FIONREAD all behave alike) and for the telemetry ring, and the circbuf
//! ioctls must fail with errors that name the path and the operation. Of
//! `MappedReader` only the failures before any mapping can be seen here;
//! mapping the ring needs the device, in the guest.

use std::path::PathBuf;

use circbuf::{Device, MappedReader, OpenOptions, Operation, Sample, SampleReader, Source};
use rustix::io::Errno;

fn fifo(name: &str) -> PathBuf {
    circbuf::testing::fifo(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circbuf-device"),
        name,
    )
}

fn rw_nonblocking() -> OpenOptions {
    *OpenOptions::new().read(true).write(true).nonblocking(true)
}

#[test]
fn missing_path_reports_open_enoent_with_the_path() {
    let err = Device::open("/nonexistent/circbuf", OpenOptions::new().read(true)).unwrap_err();
    assert_eq!(err.operation(), Operation::Open);
    assert_eq!(err.errno(), Errno::NOENT);
    assert_eq!(
        err.to_string(),
        "/nonexistent/circbuf: open: No such file or directory (is the circbuf module loaded?)"
    );
}

#[test]
fn read_write_and_fionread_on_a_byte_stream() {
    let path = fifo("stream");
    let dev = Device::open(&path, &rw_nonblocking()).expect("open the FIFO");
    assert_eq!(dev.path(), path);
    assert_eq!(dev.bytes_available().unwrap(), 0);

    assert_eq!(dev.write(b"hello circbuf").unwrap(), 13);
    assert_eq!(dev.bytes_available().unwrap(), 13);

    let mut buf = [0u8; 5];
    assert_eq!(dev.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf, b"hello");
    assert_eq!(dev.bytes_available().unwrap(), 8);

    let mut rest = [0u8; 64];
    assert_eq!(dev.read(&mut rest).unwrap(), 8);
    assert_eq!(&rest[..8], b" circbuf");
}

#[test]
fn nonblocking_read_on_empty_stream_is_eagain_and_can_be_toggled() {
    let path = fifo("nonblocking");
    let dev = Device::open(&path, &rw_nonblocking()).expect("open the FIFO");
    let mut buf = [0u8; 4];
    let err = dev.read(&mut buf).unwrap_err();
    assert_eq!(err.operation(), Operation::Read);
    assert!(err.is_would_block(), "{err}");

    dev.set_nonblocking(false).unwrap();
    dev.write(b"x").unwrap();
    assert_eq!(
        dev.read(&mut buf).unwrap(),
        1,
        "data present: a blocking read returns at once"
    );

    dev.set_nonblocking(true).unwrap();
    assert!(dev.read(&mut buf).unwrap_err().is_would_block());
}

#[test]
fn circbuf_ioctls_on_a_foreign_file_are_reported_as_such() {
    let path = fifo("foreign");
    let dev = Device::open(&path, &rw_nonblocking()).expect("open the FIFO");

    let err = dev.stats().unwrap_err();
    assert_eq!(err.operation(), Operation::GetStats);
    assert_eq!(err.errno(), Errno::NOTTY);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: ioctl(CIRCBUF_GET_STATS): ", path.display())),
        "{text}"
    );
    assert!(text.ends_with("(is this a circbuf device?)"), "{text}");

    let err = dev.reset().unwrap_err();
    assert_eq!(err.operation(), Operation::Reset);
    assert_eq!(err.errno(), Errno::NOTTY);

    let err = dev.set_source(Source::Thermal, 1000).unwrap_err();
    assert_eq!(err.operation(), Operation::SetSource);
    assert_eq!(err.errno(), Errno::NOTTY);
    assert!(
        err.to_string()
            .ends_with("(is this the circbuf telemetry device?)"),
        "{err}"
    );
}

/// The bytes the telemetry device returns for `sample`.
fn sample_bytes(sample: &Sample) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(Sample::SIZE);
    bytes.extend_from_slice(&sample.timestamp_ns.to_ne_bytes());
    bytes.extend_from_slice(&sample.seq.to_ne_bytes());
    bytes.extend_from_slice(&sample.value.to_ne_bytes());
    bytes.extend_from_slice(&sample.flags.to_ne_bytes());
    bytes
}

#[test]
fn sample_reader_decodes_whole_samples_in_order() {
    let path = fifo("samples");
    let mut reader = SampleReader::open(&path, &rw_nonblocking()).expect("open the FIFO");
    let written: Vec<Sample> = (0..3)
        .map(|i| Sample {
            timestamp_ns: 1_000_000 * (i + 1),
            seq: 10 + i,
            value: 45_000 - 125 * i as i32,
            flags: if i == 0 { Sample::FIRST } else { 0 },
        })
        .collect();
    let bytes: Vec<u8> = written.iter().flat_map(sample_bytes).collect();
    assert_eq!(reader.device().write(&bytes).unwrap(), bytes.len());

    let mut samples = vec![Sample::default()];
    assert_eq!(reader.read_samples(&mut samples).unwrap(), 3);
    assert_eq!(samples[1..], written[..], "appended after what was there");
    assert!(samples[1].is_first() && !samples[2].is_first());

    let err = reader.read_samples(&mut samples).unwrap_err();
    assert!(err.is_would_block(), "{err}");
    assert_eq!(samples.len(), 4);
}

#[test]
fn sample_reader_refuses_a_read_ending_inside_a_sample() {
    let path = fifo("partial");
    let mut reader = SampleReader::open(&path, &rw_nonblocking()).expect("open the FIFO");
    reader.device().write(&[0; Sample::SIZE + 5]).unwrap();
    let mut samples = Vec::new();
    let err = reader.read_samples(&mut samples).unwrap_err();
    assert_eq!(err.operation(), Operation::Read);
    assert_eq!(err.errno(), Errno::BADMSG);
    assert!(samples.is_empty());
    assert_eq!(
        err.to_string(),
        format!(
            "{}: read: Bad message (is this the circbuf telemetry device?)",
            path.display()
        )
    );
}

#[test]
fn descriptors_do_not_leak_into_children() {
    let path = fifo("cloexec");
    let dev = Device::open(&path, &rw_nonblocking()).expect("open the FIFO");
    let flags = rustix::io::fcntl_getfd(&dev).unwrap();
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
}

#[test]
fn mapped_reader_reports_a_missing_device_or_a_foreign_file() {
    let err = MappedReader::open("/nonexistent/circbuf").unwrap_err();
    assert_eq!(err.operation(), Operation::Open);
    assert_eq!(err.errno(), Errno::NOENT);
    assert_eq!(err.path(), std::path::Path::new("/nonexistent/circbuf"));

    // The capacity, which sizes the mapping, comes first; a FIFO has none.
    let path = fifo("mapped");
    let err = MappedReader::open(&path).unwrap_err();
    assert_eq!(err.operation(), Operation::GetStats);
    assert_eq!(err.errno(), Errno::NOTTY);
    assert!(
        err.to_string()
            .starts_with(&format!("{}: ioctl(CIRCBUF_GET_STATS): ", path.display())),
        "{err}"
    );
}
