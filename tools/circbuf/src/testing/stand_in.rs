// SPDX-License-Identifier: GPL-2.0
//! Testing the tools where no circbuf device exists: a FIFO takes the
//! device's place, and the errors a tool prints for a missing path or a
//! file that is not a circbuf device are checked against one wording.

use std::path::{Path, PathBuf};

use rustix::fs::{mknodat, FileType, Mode, CWD};

/// Makes a FIFO at `dir/name`, creating `dir` and replacing what a previous
/// run left there. A FIFO moves bytes like the device (atomic writes of up
/// to 4096 bytes, end of file once the writers close) but refuses circbuf's
/// ioctls, so it serves both as a stand-in and as the wrong kind of file.
///
/// # Panics
///
/// When the directory or the FIFO cannot be made.
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the test directory");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).expect("mkfifo");
    path
}

/// Asserts that `stderr` is the one line the tool `program` prints when
/// `path` does not exist: the failed open and the hint to load the module.
#[track_caller]
pub fn assert_reports_missing_device(stderr: &[u8], program: &str, path: &str) {
    assert_eq!(
        String::from_utf8_lossy(stderr),
        format!(
            "{program}: {path}: open: No such file or directory (is the circbuf module loaded?)\n"
        )
    );
}

/// Asserts that `stderr` is what the tool `program` prints when `path` is
/// not a circbuf device: the statistics ioctl that failed on it, and the
/// hint saying why.
#[track_caller]
pub fn assert_reports_not_circbuf(stderr: &[u8], program: &str, path: &Path) {
    let stderr = String::from_utf8_lossy(stderr);
    assert!(
        stderr.starts_with(&format!(
            "{program}: {}: ioctl(CIRCBUF_GET_STATS): ",
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("(is this a circbuf device?)"),
        "{stderr}"
    );
}
