// SPDX-License-Identifier: GPL-2.0
//! Checks the Rust mirror of the UAPI against the C header itself: a small C
//! program built with `cc` against `include/uapi/linux/circbuf.h` prints the
//! struct sizes, every field offset and width, the constants and the ioctl
//! numbers, and each must equal the Rust value. A field renamed, reordered,
//! added or removed on either side fails here before it can corrupt a stats
//! buffer or a decoded sample.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of, size_of_val};
use std::path::PathBuf;
use std::process::Command;

use circbuf::{
    Mode, Sample, Source, Stats, ATOMIC_WRITE_MAX, CIRCBUF_GET_STATS, CIRCBUF_IOC_MAGIC,
    CIRCBUF_RESET, CIRCBUF_SET_MODE, CIRCBUF_SET_SOURCE, CIRCBUF_WAKE_WRITERS, MMAP_CONSUMER_PGOFF,
    MMAP_PRODUCER_PGOFF, MMAP_WRITERS_WAITING, RATE_MAX, RATE_MIN,
};

fn rust_offsets() -> [(&'static str, usize); 16] {
    [
        ("capacity", offset_of!(Stats, capacity)),
        ("used", offset_of!(Stats, used)),
        ("available", offset_of!(Stats, available)),
        ("reads", offset_of!(Stats, reads)),
        ("writes", offset_of!(Stats, writes)),
        ("bytes_read", offset_of!(Stats, bytes_read)),
        ("bytes_written", offset_of!(Stats, bytes_written)),
        ("readers", offset_of!(Stats, readers)),
        ("writers", offset_of!(Stats, writers)),
        ("read_waits", offset_of!(Stats, read_waits)),
        ("write_waits", offset_of!(Stats, write_waits)),
        ("mode", offset_of!(Stats, mode)),
        ("dropped_bytes", offset_of!(Stats, dropped_bytes)),
        ("dropped_records", offset_of!(Stats, dropped_records)),
        ("source", offset_of!(Stats, source)),
        ("rate_hz", offset_of!(Stats, rate_hz)),
    ]
}

/// Each field of `Sample` with its offset and width, in the header's order.
fn rust_sample_fields() -> [(&'static str, usize, usize); 4] {
    let s = Sample::default();
    [
        (
            "timestamp_ns",
            offset_of!(Sample, timestamp_ns),
            size_of_val(&s.timestamp_ns),
        ),
        ("seq", offset_of!(Sample, seq), size_of_val(&s.seq)),
        ("value", offset_of!(Sample, value), size_of_val(&s.value)),
        ("flags", offset_of!(Sample, flags), size_of_val(&s.flags)),
    ]
}

/// Builds the probe program and returns what it printed, as name → value.
fn c_values() -> BTreeMap<String, u64> {
    let uapi = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi");
    assert!(
        uapi.join("linux/circbuf.h").is_file(),
        "header not found under {}",
        uapi.display()
    );

    let mut source = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <linux/circbuf.h>\n\nint main(void)\n{\n",
    );
    source.push_str(
        "\tprintf(\"sizeof %lu\\n\", (unsigned long)sizeof(struct circbuf_stats));\n\
         \tprintf(\"CIRCBUF_GET_STATS %lu\\n\", (unsigned long)CIRCBUF_GET_STATS);\n\
         \tprintf(\"CIRCBUF_RESET %lu\\n\", (unsigned long)CIRCBUF_RESET);\n\
         \tprintf(\"CIRCBUF_SET_MODE %lu\\n\", (unsigned long)CIRCBUF_SET_MODE);\n\
         \tprintf(\"CIRCBUF_SET_SOURCE %lu\\n\", (unsigned long)CIRCBUF_SET_SOURCE);\n\
         \tprintf(\"CIRCBUF_WAKE_WRITERS %lu\\n\", (unsigned long)CIRCBUF_WAKE_WRITERS);\n\
         \tprintf(\"CIRCBUF_MMAP_CONSUMER_PGOFF %lu\\n\", (unsigned long)CIRCBUF_MMAP_CONSUMER_PGOFF);\n\
         \tprintf(\"CIRCBUF_MMAP_PRODUCER_PGOFF %lu\\n\", (unsigned long)CIRCBUF_MMAP_PRODUCER_PGOFF);\n\
         \tprintf(\"CIRCBUF_MMAP_WRITERS_WAITING %lu\\n\", (unsigned long)CIRCBUF_MMAP_WRITERS_WAITING);\n\
         \tprintf(\"producer.offsetof.tail %lu\\n\", (unsigned long)offsetof(struct circbuf_mmap_producer, tail));\n\
         \tprintf(\"producer.offsetof.capacity %lu\\n\", (unsigned long)offsetof(struct circbuf_mmap_producer, capacity));\n\
         \tprintf(\"producer.offsetof.flags %lu\\n\", (unsigned long)offsetof(struct circbuf_mmap_producer, flags));\n\
         \tprintf(\"producer.sizeof %lu\\n\", (unsigned long)sizeof(struct circbuf_mmap_producer));\n\
         \tprintf(\"consumer.offsetof.head %lu\\n\", (unsigned long)offsetof(struct circbuf_mmap_consumer, head));\n\
         \tprintf(\"consumer.sizeof %lu\\n\", (unsigned long)sizeof(struct circbuf_mmap_consumer));\n\
         \tprintf(\"CIRCBUF_SOURCE_NONE %lu\\n\", (unsigned long)CIRCBUF_SOURCE_NONE);\n\
         \tprintf(\"CIRCBUF_SOURCE_THERMAL %lu\\n\", (unsigned long)CIRCBUF_SOURCE_THERMAL);\n\
         \tprintf(\"CIRCBUF_RATE_MIN %lu\\n\", (unsigned long)CIRCBUF_RATE_MIN);\n\
         \tprintf(\"CIRCBUF_RATE_MAX %lu\\n\", (unsigned long)CIRCBUF_RATE_MAX);\n\
         \tprintf(\"CIRCBUF_SAMPLE_FIRST %lu\\n\", (unsigned long)CIRCBUF_SAMPLE_FIRST);\n\
         \tprintf(\"source.offsetof.source %lu\\n\", (unsigned long)offsetof(struct circbuf_source, source));\n\
         \tprintf(\"source.offsetof.rate_hz %lu\\n\", (unsigned long)offsetof(struct circbuf_source, rate_hz));\n\
         \tprintf(\"source.sizeof %lu\\n\", (unsigned long)sizeof(struct circbuf_source));\n\
         \tprintf(\"sample.sizeof %lu\\n\", (unsigned long)sizeof(struct circbuf_sample));\n\
         \tprintf(\"sample.value_is_signed %d\\n\", (struct circbuf_sample){ .value = -1 }.value < 0);\n\
         \tprintf(\"CIRCBUF_MODE_BLOCK %lu\\n\", (unsigned long)CIRCBUF_MODE_BLOCK);\n\
         \tprintf(\"CIRCBUF_MODE_OVERWRITE %lu\\n\", (unsigned long)CIRCBUF_MODE_OVERWRITE);\n\
         \tprintf(\"CIRCBUF_IOC_MAGIC %lu\\n\", (unsigned long)CIRCBUF_IOC_MAGIC);\n\
         \tprintf(\"CIRCBUF_ATOMIC_WRITE_MAX %lu\\n\", (unsigned long)CIRCBUF_ATOMIC_WRITE_MAX);\n",
    );
    // Naming the fields from the Rust side makes the C compiler reject any
    // name the header lacks.
    for (name, _) in rust_offsets() {
        source.push_str(&format!(
            "\tprintf(\"offsetof.{name} %lu\\n\", (unsigned long)offsetof(struct circbuf_stats, {name}));\n\
             \tprintf(\"sizeof.{name} %lu\\n\", (unsigned long)sizeof(((struct circbuf_stats *)0)->{name}));\n"
        ));
    }
    for (name, _, _) in rust_sample_fields() {
        source.push_str(&format!(
            "\tprintf(\"sample.offsetof.{name} %lu\\n\", (unsigned long)offsetof(struct circbuf_sample, {name}));\n\
             \tprintf(\"sample.sizeof.{name} %lu\\n\", (unsigned long)sizeof(((struct circbuf_sample *)0)->{name}));\n"
        ));
    }
    source.push_str("\treturn 0;\n}\n");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circbuf-abi");
    std::fs::create_dir_all(&dir).expect("create the probe directory");
    let c_file = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&c_file, source).expect("write the probe source");

    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args(["-Wall", "-Werror", "-I"])
        .arg(&uapi)
        .arg("-o")
        .arg(&exe)
        .arg(&c_file)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(
        status.success(),
        "the probe does not compile against the header"
    );

    let output = Command::new(&exe).output().expect("run the probe");
    assert!(output.status.success(), "the probe failed");
    String::from_utf8(output.stdout)
        .expect("probe output is text")
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(' ').expect("name value");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn rust_layout_and_ioctl_numbers_match_the_c_header() {
    let c = c_values();
    let get = |name: &str| -> u64 { *c.get(name).unwrap_or_else(|| panic!("{name} not printed")) };

    assert_eq!(
        get("sizeof"),
        size_of::<Stats>() as u64,
        "sizeof(struct circbuf_stats)"
    );
    for (name, offset) in rust_offsets() {
        assert_eq!(
            get(&format!("offsetof.{name}")),
            offset as u64,
            "offset of {name}"
        );
        assert_eq!(get(&format!("sizeof.{name}")), 8, "width of {name}");
    }
    assert_eq!(
        get("CIRCBUF_GET_STATS"),
        u64::from(CIRCBUF_GET_STATS),
        "CIRCBUF_GET_STATS"
    );
    assert_eq!(
        get("CIRCBUF_RESET"),
        u64::from(CIRCBUF_RESET),
        "CIRCBUF_RESET"
    );
    assert_eq!(
        get("CIRCBUF_SET_MODE"),
        u64::from(CIRCBUF_SET_MODE),
        "CIRCBUF_SET_MODE"
    );
    assert_eq!(
        get("CIRCBUF_SET_SOURCE"),
        u64::from(CIRCBUF_SET_SOURCE),
        "CIRCBUF_SET_SOURCE"
    );
    assert_eq!(
        get("CIRCBUF_WAKE_WRITERS"),
        u64::from(CIRCBUF_WAKE_WRITERS),
        "CIRCBUF_WAKE_WRITERS"
    );
    assert_eq!(get("CIRCBUF_MMAP_CONSUMER_PGOFF"), MMAP_CONSUMER_PGOFF);
    assert_eq!(get("CIRCBUF_MMAP_PRODUCER_PGOFF"), MMAP_PRODUCER_PGOFF);
    assert_eq!(get("CIRCBUF_MMAP_WRITERS_WAITING"), MMAP_WRITERS_WAITING);
    assert_eq!(get("CIRCBUF_MODE_BLOCK"), u64::from(Mode::Block.to_uapi()));
    assert_eq!(
        get("CIRCBUF_MODE_OVERWRITE"),
        u64::from(Mode::Overwrite.to_uapi())
    );
    assert_eq!(get("CIRCBUF_IOC_MAGIC"), u64::from(CIRCBUF_IOC_MAGIC));
    assert_eq!(get("CIRCBUF_ATOMIC_WRITE_MAX"), ATOMIC_WRITE_MAX as u64);
    assert_eq!(
        get("CIRCBUF_SOURCE_NONE"),
        u64::from(Source::None.to_uapi())
    );
    assert_eq!(
        get("CIRCBUF_SOURCE_THERMAL"),
        u64::from(Source::Thermal.to_uapi())
    );
    assert_eq!(get("CIRCBUF_RATE_MIN"), u64::from(RATE_MIN));
    assert_eq!(get("CIRCBUF_RATE_MAX"), u64::from(RATE_MAX));
    assert_eq!(get("CIRCBUF_SAMPLE_FIRST"), u64::from(Sample::FIRST));

    // The crate's private mirror of struct circbuf_source checks these
    // same offsets and size in its unit tests.
    assert_eq!(get("source.offsetof.source"), 0);
    assert_eq!(get("source.offsetof.rate_hz"), 4);
    assert_eq!(get("source.sizeof"), 8);
    // Likewise for the mapped pages: MappedReader loads each u64 at the
    // offset of its private mirrors of these structs.
    assert_eq!(get("producer.offsetof.tail"), 0);
    assert_eq!(get("producer.offsetof.capacity"), 8);
    assert_eq!(get("producer.offsetof.flags"), 16);
    assert_eq!(get("producer.sizeof"), 24);
    assert_eq!(get("consumer.offsetof.head"), 0);
    assert_eq!(get("consumer.sizeof"), 8);

    assert_eq!(
        get("sample.sizeof"),
        Sample::SIZE as u64,
        "sizeof(struct circbuf_sample)"
    );
    assert_eq!(get("sample.sizeof"), size_of::<Sample>() as u64);
    for (name, offset, width) in rust_sample_fields() {
        assert_eq!(
            get(&format!("sample.offsetof.{name}")),
            offset as u64,
            "offset of sample {name}"
        );
        assert_eq!(
            get(&format!("sample.sizeof.{name}")),
            width as u64,
            "width of sample {name}"
        );
    }
    // Sample::value is an i32: a negative temperature must stay negative.
    assert_eq!(get("sample.value_is_signed"), 1, "__s32 value");
}

#[test]
fn offsets_are_listed_in_uapi_order() {
    let names: Vec<&str> = rust_offsets().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, Stats::FIELD_NAMES);
    for (i, (name, offset)) in rust_offsets().into_iter().enumerate() {
        assert_eq!(offset, i * 8, "{name}");
    }
}
