// SPDX-License-Identifier: GPL-2.0
//! Starting the workers, as threads or as child processes, in the order the
//! device's end-of-file rule needs: every reader has the device open before
//! any writer opens it. Also the child side of `--processes`: the hidden
//! `__worker` subcommand and the JSON lines it exchanges with the parent.
//!
//! Child protocol: the parent starts `stress __worker ...` with piped stdin
//! and stdout. The child opens the device and prints `"Ready"` (or
//! `{"Failed": message}`), waits for a `go` line on stdin, runs, and prints
//! `{"Done": report}`.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::supervise::Registry;
use crate::verdict::Violation;
use crate::worker::{self, Job, Mode, Phase, Report, Role, Status};

/// The first argument that turns `stress` into a worker process.
pub const WORKER_COMMAND: &str = "__worker";

/// The shape of a run, as every worker needs to know it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The device (or a stand-in path in tests).
    pub device: PathBuf,
    /// Records or stream.
    pub mode: Mode,
    /// Number of writers.
    pub writers: u32,
    /// Number of readers.
    pub readers: u32,
    /// How long writers keep writing.
    pub duration: Duration,
    /// Bytes per record (records mode).
    pub record_size: usize,
    /// The device's capacity.
    pub capacity: usize,
    /// The run's seed.
    pub seed: u64,
}

impl Plan {
    fn job(&self, role: Role, id: u32, deadline: Instant) -> Job {
        Job {
            mode: self.mode,
            role,
            id,
            writers: self.writers,
            record_size: self.record_size,
            capacity: self.capacity,
            seed: self.seed,
            deadline,
        }
    }

    /// The workers to start, readers first: every reader has the device
    /// open before the first writer does, so no reader can miss a writer
    /// and wait for an end-of-file that never comes.
    fn roles(&self) -> [(Role, u32); 2] {
        [(Role::Reader, self.readers), (Role::Writer, self.writers)]
    }
}

/// How workers are run.
#[derive(Clone, Debug)]
pub enum Launcher {
    /// One thread per worker in this process.
    Threads,
    /// One child process per worker, running `exe __worker ...`.
    Processes {
        /// The `stress` executable.
        exe: PathBuf,
    },
}

/// Runs all workers of `plan` to completion and returns their reports
/// (readers first). Workers are registered in `registry` as they start, so
/// a watchdog can say which one is stuck. An error means the run could not
/// start; worker processes already started are killed then.
pub fn launch(
    plan: &Plan,
    launcher: &Launcher,
    registry: &Registry,
) -> Result<Vec<Report>, String> {
    match launcher {
        Launcher::Threads => launch_threads(plan, registry),
        Launcher::Processes { exe } => launch_processes(plan, exe, registry),
    }
}

fn launch_threads(plan: &Plan, registry: &Registry) -> Result<Vec<Report>, String> {
    // All devices are opened here, readers first, before any thread runs:
    // a failure then leaves no thread blocked on a device nobody writes.
    let mut opened = Vec::new();
    for (role, count) in plan.roles() {
        for id in 0..count {
            let device =
                worker::open(&plan.device, role).map_err(|e| format!("{role} {id}: {e}"))?;
            opened.push((role, id, device));
        }
    }
    let deadline = Instant::now() + plan.duration;
    let mut handles = Vec::new();
    for (role, id, device) in opened {
        let status = registry.add(role, id, None);
        let job = plan.job(role, id, deadline);
        let handle = thread::Builder::new()
            .name(format!("{role} {id}"))
            .spawn(move || worker::run(device, &job, &status))
            .map_err(|e| format!("cannot start thread for {role} {id}: {e}"))?;
        handles.push((role, id, handle));
    }
    Ok(handles
        .into_iter()
        .map(|(role, id, handle)| {
            handle.join().unwrap_or_else(|_| {
                let mut report = Report::new(role, id);
                report.violations.push(Violation::Io {
                    worker: format!("{role} {id}"),
                    message: "the worker thread panicked".into(),
                });
                report
            })
        })
        .collect())
}

/// What a worker process prints, one JSON value per line.
#[derive(Debug, Serialize, Deserialize)]
enum Message {
    Ready,
    Failed(String),
    Done(Box<Report>),
}

fn read_message(from: &mut impl BufRead) -> Result<Option<Message>, String> {
    let mut line = String::new();
    match from.read_line(&mut line) {
        Ok(0) => Ok(None),
        Ok(_) => serde_json::from_str(&line)
            .map(Some)
            .map_err(|e| format!("unreadable message ({e})")),
        Err(e) => Err(e.to_string()),
    }
}

struct ChildWorker {
    role: Role,
    id: u32,
    process: std::process::Child,
    stdout: BufReader<ChildStdout>,
    status: Arc<Status>,
}

fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no variant is skipped")
        .get_name()
        .to_owned()
}

fn worker_args(plan: &Plan, role: Role, id: u32) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        WORKER_COMMAND.to_owned(),
        "--mode".into(),
        value_name(plan.mode),
        "--role".into(),
        value_name(role),
        format!("--id={id}"),
        format!("--writers={}", plan.writers),
        format!("--record-size={}", plan.record_size),
        format!("--capacity={}", plan.capacity),
        format!("--seed={}", plan.seed),
        format!("--duration-ms={}", plan.duration.as_millis()),
        "--".into(),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(plan.device.clone().into_os_string());
    args
}

fn spawn_child(
    exe: &Path,
    plan: &Plan,
    role: Role,
    id: u32,
    registry: &Registry,
) -> Result<ChildWorker, String> {
    let mut process = Command::new(exe)
        .args(worker_args(plan, role, id))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let stdout = BufReader::new(process.stdout.take().expect("stdout is piped"));
    let status = registry.add(role, id, Some(process.id()));
    Ok(ChildWorker {
        role,
        id,
        process,
        stdout,
        status,
    })
}

fn expect_ready(child: &mut ChildWorker) -> Result<(), String> {
    let who = format!("{} {} (pid {})", child.role, child.id, child.process.id());
    match read_message(&mut child.stdout) {
        Ok(Some(Message::Ready)) => {
            child.status.set(Phase::Running);
            Ok(())
        }
        Ok(Some(Message::Failed(message))) => Err(format!("{who}: {message}")),
        Ok(Some(Message::Done(_))) => Err(format!("{who}: finished before starting")),
        Ok(None) => Err(format!("{who}: exited before opening the device")),
        Err(e) => Err(format!("{who}: {e}")),
    }
}

fn start_children(
    plan: &Plan,
    exe: &Path,
    registry: &Registry,
    children: &mut Vec<ChildWorker>,
) -> Result<(), String> {
    for (role, count) in plan.roles() {
        for id in 0..count {
            let mut child = spawn_child(exe, plan, role, id, registry)?;
            let ready = expect_ready(&mut child);
            children.push(child);
            ready?;
        }
    }
    Ok(())
}

fn collect(mut child: ChildWorker) -> Report {
    let outcome = loop {
        match read_message(&mut child.stdout) {
            Ok(Some(Message::Done(report))) => break Ok(*report),
            Ok(Some(_)) => continue,
            Ok(None) => break Err("exited without a report".to_owned()),
            Err(e) => break Err(e),
        }
    };
    // Marked finished before it is reaped: the watchdog only signals
    // unfinished workers, so it can never hit a recycled pid.
    child.status.set(Phase::Finished);
    let exit = child.process.wait();
    outcome.unwrap_or_else(|problem| {
        let mut report = Report::new(child.role, child.id);
        let exit = match exit {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        report.violations.push(Violation::Io {
            worker: format!("{} {}", child.role, child.id),
            message: format!("worker process {problem} ({exit})"),
        });
        report
    })
}

fn launch_processes(plan: &Plan, exe: &Path, registry: &Registry) -> Result<Vec<Report>, String> {
    let mut children = Vec::new();
    if let Err(e) = start_children(plan, exe, registry, &mut children) {
        for child in &mut children {
            // Already-exited children make kill fail harmlessly.
            let _ = child.process.kill();
            child.status.set(Phase::Finished);
            let _ = child.process.wait();
        }
        return Err(e);
    }
    // Everyone has the device open; start them together so the run's
    // contention is real from the first moment.
    for child in &mut children {
        if let Some(mut stdin) = child.process.stdin.take() {
            // A child that died already is reported by `collect`.
            let _ = stdin.write_all(b"go\n");
        }
    }
    let collectors: Vec<_> = children
        .into_iter()
        .map(|child| thread::spawn(move || collect(child)))
        .collect();
    Ok(collectors
        .into_iter()
        .map(|handle| handle.join().expect("collecting a report does not panic"))
        .collect())
}

/// The arguments of a worker process (not for direct use).
#[derive(Debug, Parser)]
#[command(name = "stress __worker")]
struct WorkerArgs {
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long, value_enum)]
    role: Role,
    #[arg(long)]
    id: u32,
    #[arg(long)]
    writers: u32,
    #[arg(long)]
    record_size: usize,
    #[arg(long)]
    capacity: usize,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    duration_ms: u64,
    device: PathBuf,
}

fn send(message: &Message) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, message)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The whole life of a worker process; `args` starts with
/// [`WORKER_COMMAND`].
pub fn child_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = WorkerArgs::parse_from(args);
    let device = match worker::open(&args.device, args.role) {
        Ok(device) => device,
        Err(e) => {
            // If the parent is gone there is nobody left to tell.
            let _ = send(&Message::Failed(e.to_string()));
            return ExitCode::from(2);
        }
    };
    if send(&Message::Ready).is_err() {
        return ExitCode::from(2);
    }
    let mut go = String::new();
    if io::stdin().read_line(&mut go).is_err() || go.trim() != "go" {
        // The parent gave up on the run (or died): leave quietly.
        return ExitCode::from(2);
    }
    let job = Job {
        mode: args.mode,
        role: args.role,
        id: args.id,
        writers: args.writers,
        record_size: args.record_size,
        capacity: args.capacity,
        seed: args.seed,
        deadline: Instant::now() + Duration::from_millis(args.duration_ms),
    };
    let report = worker::run(device, &job, &Status::default());
    match send(&Message::Done(Box::new(report))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_arguments_round_trip() {
        let plan = Plan {
            device: PathBuf::from("/dev/circbuf"),
            mode: Mode::Stream,
            writers: 3,
            readers: 2,
            duration: Duration::from_millis(2500),
            record_size: 48,
            capacity: 4096,
            seed: u64::MAX,
        };
        let args = WorkerArgs::try_parse_from(worker_args(&plan, Role::Writer, 2)).unwrap();
        assert_eq!(args.mode, Mode::Stream);
        assert_eq!(args.role, Role::Writer);
        assert_eq!(args.id, 2);
        assert_eq!(args.writers, 3);
        assert_eq!(args.record_size, 48);
        assert_eq!(args.capacity, 4096);
        assert_eq!(args.seed, u64::MAX);
        assert_eq!(args.duration_ms, 2500);
        assert_eq!(args.device, PathBuf::from("/dev/circbuf"));
    }

    #[test]
    fn a_device_path_that_looks_like_an_option_survives() {
        let plan = Plan {
            device: PathBuf::from("--odd"),
            mode: Mode::Records,
            writers: 1,
            readers: 1,
            duration: Duration::from_secs(1),
            record_size: 64,
            capacity: 64,
            seed: 0,
        };
        let args = WorkerArgs::try_parse_from(worker_args(&plan, Role::Reader, 0)).unwrap();
        assert_eq!(args.device, PathBuf::from("--odd"));
    }

    #[test]
    fn messages_are_single_json_lines_that_parse_back() {
        let mut report = Report::new(Role::Reader, 4);
        report.bytes = 640;
        report.received = Some(crate::ledger::ReaderLedger::new(4, 2).into_received());
        let mut wire = Vec::new();
        for m in [
            Message::Ready,
            Message::Failed("x: open: y".into()),
            Message::Done(Box::new(report.clone())),
        ] {
            serde_json::to_writer(&mut wire, &m).unwrap();
            wire.push(b'\n');
        }
        let mut input = &wire[..];
        assert!(matches!(read_message(&mut input), Ok(Some(Message::Ready))));
        assert!(
            matches!(read_message(&mut input), Ok(Some(Message::Failed(m))) if m == "x: open: y")
        );
        match read_message(&mut input) {
            Ok(Some(Message::Done(back))) => assert_eq!(*back, report),
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_message(&mut input), Ok(None)));
        assert!(read_message(&mut &b"{not json\n"[..]).is_err());
    }
}
