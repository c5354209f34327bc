// SPDX-License-Identifier: GPL-2.0
//! [`SampleReader`]: reads the telemetry device's ring as typed [`Sample`]s.

use std::path::Path;

use rustix::io::Errno;

use crate::device::{Device, OpenOptions};
use crate::error::{Error, Operation};
use crate::uapi::Sample;

/// The most samples one read asks for. The driver hands out at most 256 per
/// read (what its stash holds), so more room would sit unused.
const BATCH: usize = 256;

/// Reads whole samples from a telemetry device.
///
/// ```no_run
/// use circbuf::{OpenOptions, SampleReader, Source};
///
/// let mut reader = SampleReader::open(
///     circbuf::TELEMETRY_PATH,
///     OpenOptions::new().read(true).write(true),
/// )?;
/// reader.device().set_source(Source::Thermal, 1000)?;
/// let mut samples = Vec::new();
/// reader.read_samples(&mut samples)?;
/// println!("{} °C", samples[0].celsius());
/// # Ok::<(), circbuf::Error>(())
/// ```
#[derive(Debug)]
pub struct SampleReader {
    device: Device,
    buf: Vec<u8>,
}

impl SampleReader {
    /// Reads samples from `device`, opened for reading.
    pub fn new(device: Device) -> SampleReader {
        SampleReader {
            device,
            buf: vec![0; BATCH * Sample::SIZE],
        }
    }

    /// Opens the telemetry device at `path` (normally
    /// [`TELEMETRY_PATH`](crate::TELEMETRY_PATH)) to read samples from it.
    /// Write access is needed only to start or stop the source.
    pub fn open(path: impl AsRef<Path>, options: &OpenOptions) -> Result<SampleReader, Error> {
        Device::open(path, options).map(SampleReader::new)
    }

    /// The device, for its statistics, its source and its blocking mode.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Reads the samples waiting, up to 256, and appends them to `samples`;
    /// returns how many it appended, 0 at end-of-file.
    ///
    /// Blocks until a sample is there unless the file is non-blocking, in
    /// which case an empty ring fails with `EAGAIN`
    /// ([`Error::is_would_block`]). A read that ends inside a sample, which
    /// the telemetry device never returns, fails with `EBADMSG`.
    pub fn read_samples(&mut self, samples: &mut Vec<Sample>) -> Result<usize, Error> {
        let n = self.device.read(&mut self.buf)?;
        if n % Sample::SIZE != 0 {
            return Err(Error::new(
                self.device.path(),
                Operation::Read,
                Errno::BADMSG,
            ));
        }
        samples.extend(
            self.buf[..n]
                .chunks_exact(Sample::SIZE)
                .map(|chunk| Sample::from_ne_bytes(chunk.try_into().expect("a whole sample"))),
        );
        Ok(n / Sample::SIZE)
    }
}
