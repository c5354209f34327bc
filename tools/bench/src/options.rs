// SPDX-License-Identifier: GPL-2.0
//! The command line of `bench` ([`Cli`]), with its defaults and those of
//! `--quick` declared on the options, and the parsers of the values it
//! takes: sizes (`64K`) and writer:reader ratios (`2:2`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use circbuf::testing::parse_seconds;
use clap::Parser;

/// The largest message, capacity or read buffer accepted, to keep every
/// buffer a plain allocation; it is also circbuf's largest capacity.
pub const MAX_SIZE: usize = 64 << 20;
/// Most threads on either side of a point.
pub const MAX_THREADS: u32 = 256;

/// Measures a circbuf device beside a pipe of the same capacity.
///
/// Exit status: 0 on success, 1 when a measurement fails or bytes go
/// missing, 2 when the run cannot start.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about, long_about)]
pub struct Cli {
    /// The circbuf device.
    #[arg(long, value_name = "PATH", default_value = circbuf::DEFAULT_PATH)]
    pub device: PathBuf,

    /// Message sizes, comma-separated; K and M are binary (1K = 1024).
    #[arg(long, value_name = "SIZES", value_delimiter = ',', value_parser = parse_message_size,
          default_value = "1,16,64,256,1K,4K,16K,64K", default_value_if("quick", "true", "64,4K"))]
    pub sizes: Vec<usize>,

    /// Writer:reader ratios, comma-separated.
    #[arg(long, value_name = "W:R,...", value_delimiter = ',', value_parser = parse_ratio,
          default_value = "1:1,2:2,4:4,8:8",
          default_value_ifs([("mapped", "true", "1:1"), ("quick", "true", "1:1,2:2")]))]
    pub ratios: Vec<Ratio>,

    // Short by default, so that the full sweep of 32 points on two channels
    // stays within a few minutes even under an emulated CPU.
    /// Seconds of writing per point and channel.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, conflicts_with = "bytes",
          default_value = "0.5", default_value_if("quick", "true", "0.05"))]
    pub duration: Duration,

    /// Bytes written per point and channel (all writers together), instead of --duration.
    #[arg(long, value_name = "SIZE", value_parser = parse_budget)]
    pub bytes: Option<u64>,

    /// Bytes each reader asks for per read.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = parse_message_size)]
    pub read_size: usize,

    /// Wake-up latency samples per channel; 0 skips the latency test.
    #[arg(
        long,
        value_name = "N",
        default_value = "1000",
        default_value_if("quick", "true", "50")
    )]
    pub latency_samples: usize,

    // Long enough for the reader to be asleep on an empty buffer.
    /// Seconds the writer waits before each latency sample.
    #[arg(long, value_name = "SECONDS", default_value = "0.002", value_parser = parse_seconds)]
    pub latency_gap: Duration,

    /// Discard what the device holds (CIRCBUF_RESET) instead of refusing to run.
    #[arg(long, conflicts_with = "pipe_only")]
    pub reset: bool,

    /// Measure only a pipe sized to --capacity (no device needed).
    #[arg(long)]
    pub pipe_only: bool,

    /// The pipe's size with --pipe-only (the module's default buffer_size).
    #[arg(long, value_name = "SIZE", requires = "pipe_only", default_value = "4K",
          value_parser = parse_message_size)]
    pub capacity: usize,

    /// Also measure circbuf's mapped consumer (mmap, one reader; ratios default to 1:1).
    #[arg(long, conflicts_with = "pipe_only")]
    pub mapped: bool,

    /// Smoke test: sizes 64,4K, ratios 1:1,2:2, 0.05 s, 50 samples, unless given.
    #[arg(long)]
    pub quick: bool,

    /// Also write the throughput points as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Also write the whole report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also plot throughput against message size as a PNG to FILE.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// The plot's TrueType font [default: DejaVu, Liberation or FreeFont Sans].
    #[arg(long, value_name = "FILE", requires = "plot")]
    pub font: Option<PathBuf>,
}

/// A number of writer and reader threads, each with its own open file,
/// written `W:R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ratio {
    /// Writer threads.
    pub writers: u32,
    /// Reader threads.
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

/// Parses a byte count: a number with an optional binary suffix `K`, `M`
/// or `G` (also `KiB`, `MiB`, `GiB`), case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}`: expected a number of bytes like 64, 4K or 1M");
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.find(|c: char| !c.is_ascii_digit());
    let (digits, suffix) = lower.split_at(digits.unwrap_or(lower.len()));
    let shift = match suffix.trim_start() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(bad()),
    };
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let too_large = || format!("`{text}` is too large");
    number.checked_mul(1 << shift).ok_or_else(too_large)
}

/// A message, read buffer or capacity size: 1 byte to [`MAX_SIZE`].
fn parse_message_size(text: &str) -> Result<usize, String> {
    match parse_size(text)? {
        // Bounded by MAX_SIZE, so it fits any usize this runs on.
        size if (1..=MAX_SIZE as u64).contains(&size) => Ok(size as usize),
        _ => Err(format!("`{text}`: expected 1 byte to 64M")),
    }
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
    let in_range = |n: &u32| (1..=MAX_THREADS).contains(n);
    let count = |part: &str| part.trim().parse().ok().filter(in_range).ok_or_else(bad);
    Ok(Ratio::new(count(writers)?, count(readers)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli(args: &[&str]) -> Cli {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .expect("arguments parse");
        cli
    }

    fn rejects(args: &[&str]) -> String {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .expect_err("arguments are rejected")
            .to_string()
    }

    fn ratios(list: &[(u32, u32)]) -> Vec<Ratio> {
        list.iter().map(|&(w, r)| Ratio::new(w, r)).collect()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("0"), Ok(0));
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
        assert_eq!(parse_message_size("1"), Ok(1));
        assert_eq!(parse_message_size("64M"), Ok(MAX_SIZE));
        assert!(parse_message_size("0").is_err());
        assert!(parse_message_size("65M").is_err());
        assert!(parse_message_size("67108865").is_err());
    }

    #[test]
    fn ratios_are_writers_then_readers() {
        assert_eq!(parse_ratio("2:3"), Ok(Ratio::new(2, 3)));
        assert_eq!(parse_ratio(" 8 : 8 "), Ok(Ratio::new(8, 8)));
        assert_eq!(parse_ratio("256:1"), Ok(Ratio::new(256, 1)));
        for bad in ["2", "0:1", "1:0", "a:b", "1:2:3", "257:1"] {
            assert!(parse_ratio(bad).is_err(), "{bad}");
        }
        assert_eq!(Ratio::new(4, 1).to_string(), "4:1");
    }

    #[test]
    fn defaults_are_the_full_sweep_on_the_device() {
        let c = cli(&[]);
        assert_eq!(c.device, PathBuf::from("/dev/circbuf"));
        assert!(!c.reset && !c.pipe_only && !c.mapped);
        assert_eq!(c.sizes, [1, 16, 64, 256, 1024, 4096, 16384, 65536]);
        assert_eq!(c.ratios, ratios(&[(1, 1), (2, 2), (4, 4), (8, 8)]));
        assert_eq!(c.duration, Duration::from_millis(500));
        assert_eq!(c.bytes, None);
        assert_eq!(c.read_size, 65536);
        assert_eq!(c.latency_samples, 1000);
        assert_eq!(c.latency_gap, Duration::from_millis(2));
        assert_eq!(c.csv, None);
    }

    #[test]
    fn quick_shrinks_the_sweep_but_explicit_options_win() {
        let c = cli(&["--quick"]);
        assert_eq!(c.sizes, [64, 4096]);
        assert_eq!(c.ratios, ratios(&[(1, 1), (2, 2)]));
        assert_eq!(c.duration, Duration::from_millis(50));
        assert_eq!(c.latency_samples, 50);

        let c = cli(&["--quick", "--sizes", "1,64K", "--latency-samples", "0"]);
        assert_eq!(c.sizes, [1, 65536]);
        assert_eq!(c.ratios, ratios(&[(1, 1), (2, 2)]));
        assert_eq!(c.latency_samples, 0);
        assert_eq!(
            cli(&["--quick", "--duration", "2"]).duration,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn lists_are_comma_separated() {
        let c = cli(&["--sizes", "1,4K", "--ratios", "1:1,4:2"]);
        assert_eq!(c.sizes, [1, 4096]);
        assert_eq!(c.ratios, ratios(&[(1, 1), (4, 2)]));
    }

    #[test]
    fn budget_is_a_duration_or_bytes_not_both() {
        assert_eq!(cli(&["--duration", "2"]).duration, Duration::from_secs(2));
        assert_eq!(cli(&["--bytes", "1M"]).bytes, Some(1 << 20));
        assert_eq!(cli(&["--quick", "--bytes", "1M"]).bytes, Some(1 << 20));
        assert!(rejects(&["--duration", "1", "--bytes", "1M"]).contains("cannot be used with"));
        assert!(rejects(&["--bytes", "0"]).contains("at least 1 byte"));
    }

    #[test]
    fn pipe_only_takes_a_capacity() {
        let c = cli(&["--pipe-only"]);
        assert!(c.pipe_only);
        assert_eq!(c.capacity, 4096);
        assert_eq!(cli(&["--pipe-only", "--capacity", "1M"]).capacity, 1 << 20);
        assert!(rejects(&["--capacity", "1M"]).contains("--pipe-only"));
        assert!(rejects(&["--pipe-only", "--reset"]).contains("cannot be used with"));
    }

    #[test]
    fn mapped_is_measured_with_one_reader_only() {
        let c = cli(&["--quick", "--mapped"]);
        assert!(c.mapped);
        assert_eq!(c.ratios, [Ratio::new(1, 1)]);
        assert_eq!(cli(&["--mapped"]).ratios, [Ratio::new(1, 1)]);
        let c = cli(&["--mapped", "--ratios", "1:1,4:1"]);
        assert_eq!(c.ratios, ratios(&[(1, 1), (4, 1)]));
        assert!(rejects(&["--mapped", "--pipe-only"]).contains("cannot be used with"));
    }

    #[test]
    fn outputs_are_optional_files() {
        let c = cli(&["--csv", "a.csv", "--json", "a.json", "--plot", "a.png"]);
        assert_eq!(c.csv, Some(PathBuf::from("a.csv")));
        assert_eq!(c.json, Some(PathBuf::from("a.json")));
        assert_eq!(c.plot, Some(PathBuf::from("a.png")));
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
