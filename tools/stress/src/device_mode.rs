// SPDX-License-Identifier: GPL-2.0
//! Running the device in the mode a run needs: block mode for a plain run,
//! overwrite mode for `--overwrite`. The mode belongs to the device, not to
//! an open file, so a run that finds the device in the other mode switches
//! it for the run and afterwards back to the mode it found: when the run
//! passed, failed, could not start its workers, or met the watchdog. Only a
//! run killed by a signal leaves the device switched.
//!
//! Switching takes a file open for writing (`CIRCBUF_SET_MODE` needs one),
//! opened just for the switch: a writer left open would keep the readers
//! from ever reaching end-of-file. Its close is like any writer's, so a
//! reader outside the run waiting on the empty device sees end-of-file.

use std::path::Path;

use circbuf::{Device, Mode as DeviceMode, OpenOptions, Stats};

/// Puts `device`, whose statistics are `stats`, in mode `want` for a run.
/// Returns the mode to [`restore`] after it, or `None` if it was in `want`
/// already. Refuses a mode this tool does not know, whose rules it cannot
/// check.
pub fn enter(device: &Path, stats: &Stats, want: DeviceMode) -> Result<Option<DeviceMode>, String> {
    let (path, mode) = (device.display(), stats.mode);
    let unknown = format!("{path} is in mode {mode}, which this stress does not know");
    let found = stats.mode().ok_or(unknown)?;
    if found == want {
        return Ok(None);
    }
    set(device, want).map_err(|e| format!("cannot switch to {} mode: {e}", want.name()))?;
    Ok(Some(found))
}

/// Puts the device back in `mode` after a run. A failure is only warned
/// about: the run's verdict stands either way.
pub fn restore(device: &Path, mode: DeviceMode) {
    if let Err(e) = set(device, mode) {
        let (path, name) = (device.display(), mode.name());
        eprintln!("stress: warning: cannot switch {path} back to {name} mode: {e}");
    }
}

fn set(device: &Path, mode: DeviceMode) -> Result<(), circbuf::Error> {
    // Non-blocking, as everywhere here: opening must never wait.
    Device::open(device, OpenOptions::new().write(true).nonblocking(true))?.set_mode(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MISSING: &str = "/nonexistent/circbuf";

    fn in_mode(mode: u64) -> Stats {
        Stats {
            mode,
            ..Stats::default()
        }
    }

    #[test]
    fn a_device_already_in_the_mode_is_left_alone() {
        // The path does not exist: any attempt to switch would fail.
        let path = Path::new(MISSING);
        assert!(enter(path, &in_mode(0), DeviceMode::Block)
            .unwrap()
            .is_none());
        assert!(enter(path, &in_mode(1), DeviceMode::Overwrite)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_device_in_the_other_mode_is_switched() {
        let err = enter(Path::new(MISSING), &in_mode(0), DeviceMode::Overwrite).unwrap_err();
        assert!(
            err.starts_with("cannot switch to overwrite mode: /nonexistent/circbuf: open:"),
            "{err}"
        );
        let err = enter(Path::new(MISSING), &in_mode(1), DeviceMode::Block).unwrap_err();
        assert!(err.starts_with("cannot switch to block mode:"), "{err}");
    }

    #[test]
    fn an_unknown_mode_is_refused() {
        let err = enter(Path::new(MISSING), &in_mode(9), DeviceMode::Block).unwrap_err();
        assert_eq!(
            err,
            "/nonexistent/circbuf is in mode 9, which this stress does not know"
        );
    }
}
