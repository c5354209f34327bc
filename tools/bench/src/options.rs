// SPDX-License-Identifier: GPL-2.0
//! The command line of `bench` ([`Cli`]) and the [`Settings`] it resolves
//! to once `--quick` and the defaults are applied, with the parsers for
//! sizes (`64K`), writer:reader ratios (`2:2`) and seconds.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

/// Message sizes of a full sweep, in bytes.
pub const DEFAULT_SIZES: [usize; 8] = [1, 16, 64, 256, 1024, 4096, 16384, 65536];
/// Message sizes of a `--quick` run: one small, one at the atomic limit.
pub const QUICK_SIZES: [usize; 2] = [64, 4096];
/// Writer:reader ratios of a full sweep.
pub const DEFAULT_RATIOS: [Ratio; 4] = [
    Ratio::new(1, 1),
    Ratio::new(2, 2),
    Ratio::new(4, 4),
    Ratio::new(8, 8),
];
/// Writer:reader ratios of a `--quick` run.
pub const QUICK_RATIOS: [Ratio; 2] = [Ratio::new(1, 1), Ratio::new(2, 2)];

/// Seconds per point and channel: short, so that the full sweep of 32
/// points on two channels stays within a few minutes even under an
/// emulated CPU.
const DEFAULT_DURATION: Duration = Duration::from_millis(500);
const QUICK_DURATION: Duration = Duration::from_millis(50);
const DEFAULT_LATENCY_SAMPLES: usize = 1000;
const QUICK_LATENCY_SAMPLES: usize = 50;
/// Time spent timing each memcpy size.
const DEFAULT_COPY_DURATION: Duration = Duration::from_millis(250);
const QUICK_COPY_DURATION: Duration = Duration::from_millis(50);
/// The capacity `--pipe-only` assumes: the module's default buffer_size.
const DEFAULT_PIPE_ONLY_CAPACITY: usize = 4096;
/// The largest message, capacity or read buffer accepted, to keep every
/// buffer a plain allocation; it is also circbuf's largest capacity.
pub const MAX_SIZE: usize = 64 << 20;
/// Most threads on either side of a point.
pub const MAX_THREADS: u32 = 256;

/// Measures a circbuf device beside a pipe of the same capacity.
///
/// For each writer:reader ratio and message size, the same threads move
/// messages through the device and then through a pipe sized to the
/// device's capacity (F_SETPIPE_SZ), for a fixed time or byte budget.
/// Readers read large blocks until end of file; the bytes written and read
/// must agree. Then a blocked reader's wake-up latency is sampled on both,
/// and memcpy bandwidth bounds what either can reach, since every byte is
/// copied twice (user to kernel to user).
///
/// Exit status: 0 on success, 1 when a measurement fails or bytes go
/// missing, 2 when the run cannot start (bad arguments, device missing,
/// busy or not empty).
#[derive(Debug, Parser)]
#[command(name = "bench", version, about, long_about)]
pub struct Cli {
    /// The circbuf device.
    #[arg(long, value_name = "PATH", default_value = circbuf::DEFAULT_PATH)]
    pub device: PathBuf,

    /// Message sizes, comma-separated; K and M are binary (1K = 1024)
    /// [default: 1,16,64,256,1K,4K,16K,64K].
    #[arg(long, value_name = "SIZES", value_delimiter = ',', value_parser = parse_message_size)]
    pub sizes: Option<Vec<usize>>,

    /// Writer:reader ratios, comma-separated [default: 1:1,2:2,4:4,8:8].
    #[arg(long, value_name = "W:R,...", value_delimiter = ',', value_parser = parse_ratio)]
    pub ratios: Option<Vec<Ratio>>,

    /// How long writers write at each point on each channel, in seconds
    /// [default: 0.5].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, conflicts_with = "bytes")]
    pub duration: Option<Duration>,

    /// Write this many bytes at each point on each channel instead of
    /// writing for a fixed time (shared among the writers, in whole
    /// messages).
    #[arg(long, value_name = "SIZE", value_parser = parse_budget)]
    pub bytes: Option<u64>,

    /// Bytes each reader asks for per read.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = parse_message_size)]
    pub read_size: usize,

    /// Wake-up latency samples per channel; 0 skips the latency test
    /// [default: 1000].
    #[arg(long, value_name = "N")]
    pub latency_samples: Option<usize>,

    /// How long the writer waits, in seconds, before each latency sample,
    /// so that the reader is asleep on an empty buffer when the data comes.
    #[arg(long, value_name = "SECONDS", default_value = "0.002", value_parser = parse_seconds)]
    pub latency_gap: Duration,

    /// Discard whatever the device holds before starting (CIRCBUF_RESET)
    /// instead of refusing to run.
    #[arg(long, conflicts_with = "pipe_only")]
    pub reset: bool,

    /// Measure only the pipe, for machines without the device; the pipe is
    /// sized to --capacity.
    #[arg(long)]
    pub pipe_only: bool,

    /// The capacity to size the pipe to with --pipe-only [default: 4K].
    #[arg(long, value_name = "SIZE", requires = "pipe_only", value_parser = parse_message_size)]
    pub capacity: Option<usize>,

    /// Also measure circbuf read through its mapped consumer (mmap, no
    /// copy), one reader; the ratios default to 1:1 and must have 1 reader.
    #[arg(long, conflicts_with = "pipe_only")]
    pub mapped: bool,

    /// A smoke test: sizes 64 and 4K, ratios 1:1 and 2:2, 0.05 s per point,
    /// 50 latency samples. Options given explicitly still apply.
    #[arg(long)]
    pub quick: bool,

    /// Also write the throughput points as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Also write the whole report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also draw throughput against message size as a PNG to FILE.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// The TrueType font for the plot's text [default: the first of the
    /// DejaVu, Liberation and FreeFont sans fonts that is installed].
    #[arg(long, value_name = "FILE", requires = "plot")]
    pub font: Option<PathBuf>,
}

/// A number of writers and readers, written `W:R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Writer threads, each with its own open file.
    pub writers: u32,
    /// Reader threads, each with its own open file.
    pub readers: u32,
}

impl Ratio {
    /// `writers:readers`.
    pub const fn new(writers: u32, readers: u32) -> Self {
        Ratio { writers, readers }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.writers, self.readers)
    }
}

/// When the writers of a point stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Writers write until this much time has passed.
    Duration(Duration),
    /// Writers write this many bytes between them.
    Bytes(u64),
}

/// What is measured beside the pipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The circbuf device at `path`, reset first if `reset`.
    Device {
        /// Where the device is.
        path: PathBuf,
        /// Discard its content first instead of refusing to run.
        reset: bool,
    },
    /// No device: only a pipe of `capacity` bytes.
    PipeOnly {
        /// The capacity the pipe is sized to.
        capacity: usize,
    },
}

/// Everything a run needs, with defaults and `--quick` applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// What is measured beside the pipe.
    pub target: Target,
    /// Message sizes in bytes, in the order given.
    pub sizes: Vec<usize>,
    /// Writer:reader ratios, in the order given.
    pub ratios: Vec<Ratio>,
    /// When each point's writers stop.
    pub budget: Budget,
    /// Bytes per read call, and per step of the mapped consumer.
    pub read_size: usize,
    /// Whether circbuf is also read through its mapped consumer.
    pub mapped: bool,
    /// Latency samples per channel; 0 skips the test.
    pub latency_samples: usize,
    /// Pause before each latency sample.
    pub latency_gap: Duration,
    /// Time spent on each memcpy size.
    pub copy_duration: Duration,
    /// Where to write CSV, if anywhere.
    pub csv: Option<PathBuf>,
    /// Where to write JSON, if anywhere.
    pub json: Option<PathBuf>,
    /// Where to draw the plot, if anywhere.
    pub plot: Option<PathBuf>,
    /// The font for the plot's text, if given.
    pub font: Option<PathBuf>,
}

impl Settings {
    /// Applies `--quick` and the defaults to what was given; fails when
    /// `--mapped` is given a ratio of more than one reader.
    pub fn from_cli(cli: Cli) -> Result<Settings, String> {
        let quick = cli.quick;
        let many_readers = cli.ratios.iter().flatten().find(|r| r.readers != 1);
        if let (true, Some(ratio)) = (cli.mapped, many_readers) {
            return Err(format!(
                "--mapped needs 1 reader (a ring has one mapped consumer), not {ratio}"
            ));
        }
        let target = if cli.pipe_only {
            Target::PipeOnly {
                capacity: cli.capacity.unwrap_or(DEFAULT_PIPE_ONLY_CAPACITY),
            }
        } else {
            Target::Device {
                path: cli.device,
                reset: cli.reset,
            }
        };
        let budget = match (cli.bytes, cli.duration) {
            (Some(bytes), _) => Budget::Bytes(bytes),
            (None, Some(duration)) => Budget::Duration(duration),
            (None, None) if quick => Budget::Duration(QUICK_DURATION),
            (None, None) => Budget::Duration(DEFAULT_DURATION),
        };
        Ok(Settings {
            target,
            sizes: cli.sizes.unwrap_or_else(|| {
                if quick {
                    QUICK_SIZES.to_vec()
                } else {
                    DEFAULT_SIZES.to_vec()
                }
            }),
            ratios: cli.ratios.unwrap_or_else(|| {
                if cli.mapped {
                    vec![Ratio::new(1, 1)]
                } else if quick {
                    QUICK_RATIOS.to_vec()
                } else {
                    DEFAULT_RATIOS.to_vec()
                }
            }),
            budget,
            read_size: cli.read_size,
            mapped: cli.mapped,
            latency_samples: cli.latency_samples.unwrap_or(if quick {
                QUICK_LATENCY_SAMPLES
            } else {
                DEFAULT_LATENCY_SAMPLES
            }),
            latency_gap: cli.latency_gap,
            copy_duration: if quick {
                QUICK_COPY_DURATION
            } else {
                DEFAULT_COPY_DURATION
            },
            csv: cli.csv,
            json: cli.json,
            plot: cli.plot,
            font: cli.font,
        })
    }
}

/// Parses a byte count: a number with an optional binary suffix `K`, `M`
/// or `G` (also `KiB`, `MiB`, `GiB`), case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let shift = match suffix.trim_start() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => {
            return Err(format!(
                "`{text}`: expected a number of bytes like 64, 4K or 1M"
            ))
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}`: expected a number of bytes like 64, 4K or 1M"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// A message, read buffer or capacity size: 1 byte to [`MAX_SIZE`].
fn parse_message_size(text: &str) -> Result<usize, String> {
    let size = parse_size(text)?;
    if size == 0 || size > MAX_SIZE as u64 {
        return Err(format!("`{text}`: expected 1 byte to 64M"));
    }
    // Bounded by MAX_SIZE just above, so it fits any usize this runs on.
    Ok(size as usize)
}

fn parse_budget(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!("`{text}`: the byte budget must be at least 1 byte")),
        size => Ok(size),
    }
}

/// Parses `W:R`, each 1 to [`MAX_THREADS`].
pub fn parse_ratio(text: &str) -> Result<Ratio, String> {
    let bad = || format!("`{text}`: expected writers:readers like 2:2, each 1 to {MAX_THREADS}");
    let (writers, readers) = text.trim().split_once(':').ok_or_else(bad)?;
    let count = |part: &str| match part.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(bad()),
    };
    Ok(Ratio::new(count(writers)?, count(readers)?))
}

/// Parses a positive number of seconds, fractions allowed.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 1e6) {
        return Err(format!("`{text}`: expected a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn settings(args: &[&str]) -> Settings {
        let argv = std::iter::once("bench").chain(args.iter().copied());
        Settings::from_cli(Cli::try_parse_from(argv).expect("arguments parse"))
            .expect("arguments are valid")
    }

    fn rejects(args: &[&str]) -> String {
        let argv = std::iter::once("bench").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .expect_err("arguments are rejected")
            .to_string()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512B"), Ok(512));
        for bad in ["", "K", "4X", "-1", "1.5K", "4KB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("17179869184G").is_err());
    }

    #[test]
    fn message_sizes_are_bounded() {
        assert_eq!(parse_message_size("64M"), Ok(MAX_SIZE));
        assert!(parse_message_size("0").is_err());
        assert!(parse_message_size("65M").is_err());
    }

    #[test]
    fn ratios_are_writers_then_readers() {
        assert_eq!(parse_ratio("2:3"), Ok(Ratio::new(2, 3)));
        assert_eq!(parse_ratio(" 8 : 8 "), Ok(Ratio::new(8, 8)));
        for bad in ["2", "0:1", "1:0", "a:b", "1:2:3", "257:1"] {
            assert!(parse_ratio(bad).is_err(), "{bad}");
        }
        assert_eq!(Ratio::new(4, 1).to_string(), "4:1");
    }

    #[test]
    fn seconds_must_be_positive() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "nan", "inf", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_the_full_sweep_on_the_device() {
        let s = settings(&[]);
        assert_eq!(
            s.target,
            Target::Device {
                path: PathBuf::from("/dev/circbuf"),
                reset: false
            }
        );
        assert_eq!(s.sizes, DEFAULT_SIZES);
        assert_eq!(s.ratios, DEFAULT_RATIOS);
        assert_eq!(s.budget, Budget::Duration(DEFAULT_DURATION));
        assert_eq!(s.read_size, 65536);
        assert_eq!(s.latency_samples, DEFAULT_LATENCY_SAMPLES);
        assert_eq!(s.csv, None);
    }

    #[test]
    fn quick_shrinks_the_sweep_but_explicit_options_win() {
        let s = settings(&["--quick"]);
        assert_eq!(s.sizes, QUICK_SIZES);
        assert_eq!(s.ratios, QUICK_RATIOS);
        assert_eq!(s.budget, Budget::Duration(QUICK_DURATION));
        assert_eq!(s.latency_samples, QUICK_LATENCY_SAMPLES);
        assert_eq!(s.copy_duration, QUICK_COPY_DURATION);

        let s = settings(&["--quick", "--sizes", "1,64K", "--latency-samples", "0"]);
        assert_eq!(s.sizes, [1, 65536]);
        assert_eq!(s.ratios, QUICK_RATIOS);
        assert_eq!(s.latency_samples, 0);
    }

    #[test]
    fn lists_are_comma_separated() {
        let s = settings(&["--sizes", "1,4K", "--ratios", "1:1,4:2"]);
        assert_eq!(s.sizes, [1, 4096]);
        assert_eq!(s.ratios, [Ratio::new(1, 1), Ratio::new(4, 2)]);
    }

    #[test]
    fn budget_is_a_duration_or_bytes_not_both() {
        assert_eq!(
            settings(&["--duration", "2"]).budget,
            Budget::Duration(Duration::from_secs(2))
        );
        assert_eq!(settings(&["--bytes", "1M"]).budget, Budget::Bytes(1 << 20));
        assert_eq!(
            settings(&["--quick", "--bytes", "1M"]).budget,
            Budget::Bytes(1 << 20)
        );
        assert!(rejects(&["--duration", "1", "--bytes", "1M"]).contains("cannot be used with"));
        assert!(rejects(&["--bytes", "0"]).contains("at least 1 byte"));
    }

    #[test]
    fn pipe_only_takes_a_capacity() {
        let s = settings(&["--pipe-only"]);
        assert_eq!(s.target, Target::PipeOnly { capacity: 4096 });
        let s = settings(&["--pipe-only", "--capacity", "1M"]);
        assert_eq!(s.target, Target::PipeOnly { capacity: 1 << 20 });
        assert!(rejects(&["--capacity", "1M"]).contains("--pipe-only"));
        assert!(rejects(&["--pipe-only", "--reset"]).contains("cannot be used with"));
    }

    #[test]
    fn mapped_is_measured_with_one_reader_only() {
        assert!(!settings(&[]).mapped);
        let s = settings(&["--quick", "--mapped"]);
        assert!(s.mapped);
        assert_eq!(s.ratios, [Ratio::new(1, 1)]);
        let s = settings(&["--mapped", "--ratios", "1:1,4:1"]);
        assert_eq!(s.ratios, [Ratio::new(1, 1), Ratio::new(4, 1)]);
        let argv = ["bench", "--mapped", "--ratios", "1:1,2:2"];
        assert_eq!(
            Settings::from_cli(Cli::try_parse_from(argv).unwrap()),
            Err("--mapped needs 1 reader (a ring has one mapped consumer), not 2:2".into())
        );
        assert!(rejects(&["--mapped", "--pipe-only"]).contains("cannot be used with"));
    }

    #[test]
    fn outputs_are_optional_files() {
        let s = settings(&["--csv", "a.csv", "--json", "a.json", "--plot", "a.png"]);
        assert_eq!(s.csv, Some(PathBuf::from("a.csv")));
        assert_eq!(s.json, Some(PathBuf::from("a.json")));
        assert_eq!(s.plot, Some(PathBuf::from("a.png")));
        assert!(rejects(&["--font", "x.ttf"]).contains("--plot"));
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(rejects(&["--sizes", "0"]).contains("1 byte to 64M"));
        assert!(rejects(&["--ratios", "1"]).contains("writers:readers"));
        assert!(rejects(&["--latency-gap", "0"]).contains("positive"));
        assert!(rejects(&["--read-size", "65M"]).contains("1 byte to 64M"));
    }
}
