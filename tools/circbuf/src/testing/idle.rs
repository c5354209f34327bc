// SPDX-License-Identifier: GPL-2.0
//! The check every test tool makes before it runs: the device must be idle.
//!
//! Data already in the ring would be misread as the run's own, and a writer
//! outside the run would keep its readers from ever seeing end-of-file, so
//! both refuse the run. Outside readers only earn a warning: a passive one
//! (`query_stats --watch`) is harmless, and one that reads shows up in the
//! run's own checks as lost data.

use std::path::Path;

use crate::{Device, OpenOptions, Stats};

/// What [`check_idle`] found on an idle device.
#[derive(Debug)]
pub struct Idle {
    /// The statistics, with the file opened to read them left out.
    pub stats: Stats,
    /// Says how many other files have the device open for reading, if any.
    pub warning: Option<String>,
}

/// Reads the device's statistics and refuses a device that is not idle.
pub fn check_idle(device: &Path) -> Result<Idle, String> {
    let file = Device::open(device, OpenOptions::new().read(true).nonblocking(true))
        .map_err(|err| err.to_string())?;
    let mut stats = file.stats().map_err(|err| err.to_string())?;
    drop(file);
    stats.readers -= 1;
    judge(device, stats)
}

fn judge(device: &Path, stats: Stats) -> Result<Idle, String> {
    let path = device.display();
    if stats.writers > 0 {
        return Err(format!(
            "{path} is open for writing by {} other file(s); close them first",
            stats.writers
        ));
    }
    if stats.used > 0 {
        return Err(format!(
            "{path} already holds {} bytes; drain it (read it empty) or reload the module",
            stats.used
        ));
    }
    let warning = (stats.readers > 0).then(|| {
        format!(
            "{path} is also open for reading by {} other file(s); \
             if they read, data will go missing",
            stats.readers
        )
    });
    Ok(Idle { stats, warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_and_data_refuse_readers_warn() {
        let path = Path::new("/dev/circbuf");
        let idle = Stats::default();
        assert!(judge(path, idle).unwrap().warning.is_none());
        let err = judge(path, Stats { writers: 1, ..idle }).unwrap_err();
        assert!(err.contains("open for writing by 1 other file"), "{err}");
        let err = judge(path, Stats { used: 1, ..idle }).unwrap_err();
        assert!(err.contains("already holds 1 bytes"), "{err}");
        let warning = judge(path, Stats { readers: 1, ..idle }).unwrap().warning;
        assert!(warning
            .unwrap()
            .contains("also open for reading by 1 other file(s)"));
    }
}
