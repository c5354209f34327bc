// SPDX-License-Identifier: GPL-2.0
//! `--mapped`: circbuf read through its mapped consumer, a
//! [`MappedReader`], as the one reader of a throughput point. It takes up to
//! `read_size` bytes at a time where they lie in the ring, checksums them
//! there and consumes them: the work a read(2) reader does on the bytes it
//! has just copied into its buffer, less the copy. [`Consumer`] says which
//! kind of reader a point has, `Reader` is either kind for the threads of
//! `throughput.rs`, and [`check_ratios`] refuses more than one reader.

use std::time::Instant;

use circbuf::MappedReader;

use crate::channel::{Channel, Endpoint};
use crate::options::Ratio;
use crate::throughput::{read_to_end, Tally};
use crate::Error;

/// How a point's readers take the bytes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// Each reader read(2)s up to `read_size` bytes into its buffer.
    Read,
    /// One reader maps circbuf's ring and takes up to `read_size` bytes at
    /// a time in place.
    Mapped,
}

/// What clap cannot check of `--mapped`: a ratio of more than one reader,
/// since a ring has one mapped consumer.
pub fn check_ratios(ratios: &[Ratio]) -> Result<(), String> {
    match ratios.iter().find(|r| r.readers != 1) {
        Some(ratio) => Err(format!(
            "--mapped needs 1 reader (a ring has one mapped consumer), not {ratio}"
        )),
        None => Ok(()),
    }
}

/// One reader thread's file: a read end, or circbuf's mapped consumer.
pub(crate) enum Reader {
    Read(Endpoint),
    Mapped(MappedReader),
}

impl Reader {
    /// Takes the bytes until end of file, at most `read_size` at a time.
    pub(crate) fn take_to_end(self, read_size: usize) -> Result<Tally, Error> {
        match self {
            Reader::Read(end) => read_to_end(end, read_size),
            Reader::Mapped(reader) => consume_to_end(reader, read_size),
        }
    }
}

/// Opens the files of a point, readers first: `ratio.readers` read ends,
/// or `channel`'s mapped consumer, which is open before any writer so that
/// the point's writers are all open before its first wait.
pub(crate) fn open(
    channel: &Channel,
    ratio: Ratio,
    consumer: Consumer,
) -> Result<(Vec<Reader>, Vec<Endpoint>), Error> {
    if consumer == Consumer::Read {
        let (readers, writers) = channel.open(ratio)?;
        return Ok((readers.into_iter().map(Reader::Read).collect(), writers));
    }
    if ratio.readers != 1 {
        return Err(Error::Setup(format!(
            "a ring has one mapped consumer, not {} readers",
            ratio.readers
        )));
    }
    let Channel::Circbuf { probe, .. } = channel else {
        return Err(Error::Setup(
            "the mapped consumer needs the circbuf device".into(),
        ));
    };
    let reader = MappedReader::open(probe.path())?;
    let (_, writers) = channel.open(Ratio::new(ratio.writers, 0))?;
    Ok((vec![Reader::Mapped(reader)], writers))
}

/// Takes the bytes in steps of at most `step` until end of file.
fn consume_to_end(mut reader: MappedReader, step: usize) -> Result<Tally, Error> {
    let failed = |e: circbuf::Error| Error::Run(e.to_string());
    let mut tally = Tally::default();
    loop {
        let bytes = reader.next().map_err(failed)?;
        if bytes.is_empty() {
            break;
        }
        let bytes = &bytes[..bytes.len().min(step)];
        tally.take(bytes);
        let n = bytes.len();
        reader.consume(n).map_err(failed)?;
    }
    tally.end_of_file = Some(Instant::now());
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::PipeSize;
    use crate::throughput::{measure, Budget, Settings};

    #[test]
    fn only_circbuf_has_a_mapped_consumer_and_only_one() {
        let pipe = Channel::Pipe(PipeSize::probe(4096).unwrap());
        let settings = Settings {
            budget: Budget::Bytes(64),
            read_size: 64,
            bound_mb_s: 1e3,
        };
        let run = |ratio| measure(&pipe, 64, ratio, Consumer::Mapped, &settings);
        let setup = |message: &str| Err(Error::Setup(message.into()));
        assert_eq!(
            run(Ratio::new(1, 1)),
            setup("the mapped consumer needs the circbuf device")
        );
        assert_eq!(
            run(Ratio::new(2, 2)),
            setup("a ring has one mapped consumer, not 2 readers")
        );
    }

    #[test]
    fn mapped_ratios_have_one_reader() {
        let ratios = [Ratio::new(1, 1), Ratio::new(4, 1)];
        assert_eq!(check_ratios(&ratios), Ok(()));
        assert_eq!(
            check_ratios(&[Ratio::new(1, 1), Ratio::new(2, 2)]),
            Err("--mapped needs 1 reader (a ring has one mapped consumer), not 2:2".into())
        );
    }
}
