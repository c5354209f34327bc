// SPDX-License-Identifier: GPL-2.0

//! Worker processes: each is the fuzzer's own binary started with
//! `--serve`, holding its own open files of the device and carrying out the
//! operations the controller sends over its standard input, one at a time,
//! answering each on its standard output.

use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use crate::exec::Executor;
use crate::op::{Op, Reply};
use crate::protocol::{decode_op, decode_reply, encode_op, encode_reply, read_frame, write_frame};

/// The name of the command-line flag (`--serve`) that makes the binary a
/// worker.
pub const SERVE_FLAG: &str = "serve";

/// A worker process seen from the controller.
pub struct Worker {
    child: Child,
    commands: Option<BufWriter<ChildStdin>>,
    replies: BufReader<ChildStdout>,
}

impl Worker {
    /// Starts `exe --serve device`. Its standard error is the controller's,
    /// so that a worker's panic message is seen.
    pub fn spawn(exe: &Path, device: &Path) -> io::Result<Worker> {
        let mut child = Command::new(exe)
            .arg(format!("--{SERVE_FLAG}"))
            .arg(device)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let commands = child.stdin.take().map(BufWriter::new);
        let replies = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Worker {
            child,
            commands,
            replies,
        })
    }

    /// Has the worker carry out `op` and returns its reply. Fails if the
    /// worker died or answered something that is not a reply.
    pub fn run(&mut self, op: &Op) -> io::Result<Reply> {
        let commands = self.commands.as_mut().expect("the worker is running");
        write_frame(commands, &encode_op(op))?;
        match read_frame(&mut self.replies)? {
            Some(body) => Ok(decode_reply(&body)?),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the worker exited without replying",
            )),
        }
    }

    /// Closes the worker's input, which makes it close its files and exit,
    /// and waits for it.
    pub fn finish(mut self) -> io::Result<ExitStatus> {
        drop(self.commands.take());
        self.child.wait()
    }

    /// Ends the worker at once, for when the run has already failed.
    pub fn kill(mut self) {
        // It may have exited already; either way it is reaped below.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker's side: serves operations on `device` from standard input
/// until it closes.
pub fn serve(device: PathBuf) -> io::Result<()> {
    let mut executor = Executor::new(device);
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    while let Some(body) = read_frame(&mut input)? {
        let op = decode_op(&body)?;
        write_frame(&mut output, &encode_reply(&executor.run(&op)))?;
    }
    Ok(())
}
