// SPDX-License-Identifier: GPL-2.0

//! The controller: checks that the device is idle, starts the processes
//! that hold files, issues the operations one at a time, judges every reply
//! against the model, and sums up or reports the first difference.
//!
//! The device's counters are not reset (no ioctl can): the run takes a
//! snapshot at the start and expects the counters to move from there by
//! exactly what its operations did.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use circbuf::{Device, OpenOptions, Stats};

use crate::exec::Executor;
use crate::expect::expect;
use crate::generate::{Drain, Generator};
use crate::model::{File, Model};
use crate::op::{Kind, Op, Reply};
use crate::worker::Worker;

/// How many operations before a failing one its report lists.
const HISTORY: usize = 20;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The device node.
    pub device: PathBuf,
    /// The seed of every choice.
    pub seed: u64,
    /// How many operations to draw, before the final drain.
    pub ops: u64,
    /// How many files may be open at once.
    pub files: usize,
    /// How many worker processes hold the files; 0 keeps them in this one.
    pub processes: usize,
    /// The largest read or write; `None` for twice the capacity plus one.
    pub max_size: Option<usize>,
}

impl Config {
    /// The command line that repeats this run.
    pub fn replay(&self, max_len: usize) -> String {
        format!(
            "fuzz {} --seed {} --ops {} --files {} --processes {} --max-size {}",
            self.device.display(),
            self.seed,
            self.ops,
            self.files,
            self.processes,
            max_len
        )
    }
}

/// Why a run did not pass.
#[derive(Debug)]
pub enum RunError {
    /// The run could not start or could not go on, for reasons that say
    /// nothing about the device's behaviour.
    Setup(String),
    /// The device did something the model says it must not.
    Mismatch(Box<Mismatch>),
}

/// The first difference between the device and the model.
#[derive(Debug)]
pub struct Mismatch {
    /// The run's seed.
    pub seed: u64,
    /// The index of the operation, counting from 0.
    pub index: u64,
    /// The operation.
    pub op: Op,
    /// The process that carried it out.
    pub process: usize,
    /// The model's view of the file and the device before the operation.
    pub before: String,
    /// What the model says the device must reply.
    pub expected: String,
    /// What it replied, or how the worker failed.
    pub actual: String,
    /// Where the two replies differ, when that is not obvious.
    pub detail: Option<String>,
    /// The operations before it, oldest first.
    pub history: Vec<String>,
    /// The command line that repeats the run.
    pub replay: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fuzz: MISMATCH at operation #{} (seed {})",
            self.index, self.seed
        )?;
        writeln!(f, "  operation: {} [process {}]", self.op, self.process)?;
        writeln!(f, "  before:    {}", self.before)?;
        writeln!(f, "  expected:  {}", self.expected)?;
        writeln!(f, "  actual:    {}", self.actual)?;
        if let Some(detail) = &self.detail {
            writeln!(f, "  detail:    {detail}")?;
        }
        writeln!(f, "  last {} operations:", self.history.len())?;
        for line in &self.history {
            writeln!(f, "    {line}")?;
        }
        write!(f, "  replay: {}", self.replay)
    }
}

/// What a passing run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The run's seed.
    pub seed: u64,
    /// The capacity of the device.
    pub capacity: u64,
    /// Operations drawn at random.
    pub ops: u64,
    /// Operations of the final drain.
    pub drain_ops: u64,
    /// Operations of each kind, drain included.
    pub kinds: BTreeMap<Kind, u64>,
    /// Bytes read and checked.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Operations handed a bad buffer.
    pub faults: u64,
    /// Faulting copies that stopped short of the fault.
    pub short_copies: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fuzz: seed={} capacity={} ops={}+{}",
            self.seed, self.capacity, self.ops, self.drain_ops
        )?;
        for kind in Kind::ALL {
            let count = self.kinds.get(&kind).copied().unwrap_or(0);
            write!(f, " {}={count}", kind.name())?;
        }
        write!(
            f,
            " bytes_read={} bytes_written={} faults={} short_copies={} verdict=PASS",
            self.bytes_read, self.bytes_written, self.faults, self.short_copies
        )
    }
}

/// The device's statistics, read through a file opened just for that.
/// Returns the statistics with this file's own reader left out.
pub fn idle_baseline(device: &Path) -> Result<Stats, RunError> {
    let setup = |err: circbuf::Error| RunError::Setup(err.to_string());
    let file =
        Device::open(device, OpenOptions::new().read(true).nonblocking(true)).map_err(setup)?;
    let mut stats = file.stats().map_err(setup)?;
    drop(file);
    stats.readers -= 1;
    if stats.used != 0 {
        return Err(RunError::Setup(format!(
            "{}: the device holds {} bytes; it must be empty (with no writer open, \
             `cat {} >/dev/null` drains it)",
            device.display(),
            stats.used,
            device.display()
        )));
    }
    if stats.writers != 0 {
        return Err(RunError::Setup(format!(
            "{}: {} files are open for writing elsewhere; the device must have no other writer",
            device.display(),
            stats.writers
        )));
    }
    Ok(stats)
}

/// A process that holds files of the device and carries out operations on
/// them: an [`Executor`] in this process or a [`Worker`].
pub trait Holder {
    /// Carries out `op`; fails only if the process is gone or garbled.
    fn run(&mut self, op: &Op) -> io::Result<Reply>;
}

impl Holder for Executor {
    fn run(&mut self, op: &Op) -> io::Result<Reply> {
        Ok(Executor::run(self, op))
    }
}

impl Holder for Worker {
    fn run(&mut self, op: &Op) -> io::Result<Reply> {
        Worker::run(self, op)
    }
}

/// Runs the fuzzer on the idle device named by `config`; `exe` is the
/// binary that workers run.
pub fn run(config: &Config, exe: &Path) -> Result<Summary, RunError> {
    let baseline = idle_baseline(&config.device)?;
    if baseline.readers > 0 {
        eprintln!(
            "fuzz: note: {} other files have the device open for reading; they must not read",
            baseline.readers
        );
    }
    if config.processes == 0 {
        let mut executor = Executor::new(config.device.clone());
        return fuzz(config, baseline, &mut [&mut executor]).map_err(RunError::Mismatch);
    }
    let mut workers = (0..config.processes)
        .map(|_| Worker::spawn(exe, &config.device))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| RunError::Setup(format!("cannot start a worker: {err}")))?;
    let mut holders: Vec<&mut dyn Holder> = workers
        .iter_mut()
        .map(|worker| worker as &mut dyn Holder)
        .collect();
    let summary = match fuzz(config, baseline, &mut holders) {
        Ok(summary) => summary,
        Err(mismatch) => {
            workers.into_iter().for_each(Worker::kill);
            return Err(RunError::Mismatch(mismatch));
        }
    };
    for (i, worker) in workers.into_iter().enumerate() {
        match worker.finish() {
            Ok(status) if status.success() => {}
            Ok(status) => return Err(RunError::Setup(format!("worker {i} exited with {status}"))),
            Err(err) => return Err(RunError::Setup(format!("worker {i}: {err}"))),
        }
    }
    Ok(summary)
}

/// The state of a run in progress.
struct Run<'a, 'h> {
    config: &'a Config,
    max_len: usize,
    model: Model,
    holders: &'a mut [&'h mut dyn Holder],
    owners: Vec<Option<usize>>,
    history: VecDeque<String>,
    summary: Summary,
    index: u64,
}

/// Issues `config.ops` operations and the final drain through `holders`
/// (one per process), on a device whose counters stood at `baseline` when
/// it was empty with no writer open, and checks every reply.
pub fn fuzz(
    config: &Config,
    baseline: Stats,
    holders: &mut [&mut dyn Holder],
) -> Result<Summary, Box<Mismatch>> {
    assert!(!holders.is_empty(), "at least one process holds the files");
    let capacity = usize::try_from(baseline.capacity).expect("the capacity fits in memory");
    let max_len = config.max_size.unwrap_or(2 * capacity + 1);
    let mut run = Run {
        config,
        max_len,
        model: Model::new(baseline, config.files),
        holders,
        owners: vec![None; config.files],
        history: VecDeque::with_capacity(HISTORY),
        summary: Summary {
            seed: config.seed,
            capacity: baseline.capacity,
            ..Summary::default()
        },
        index: 0,
    };
    run.all()?;
    let (bytes_read, bytes_written) = run.model.bytes_moved();
    run.summary.bytes_read = bytes_read;
    run.summary.bytes_written = bytes_written;
    Ok(run.summary)
}

impl Run<'_, '_> {
    fn all(&mut self) -> Result<(), Box<Mismatch>> {
        let processes = self.holders.len();
        let mut generator = Generator::new(self.config.seed, processes, self.max_len);
        for _ in 0..self.config.ops {
            let op = generator.next(&self.model);
            self.step(op)?;
            self.summary.ops += 1;
        }
        let mut drain = Drain::new(self.max_len);
        while let Some(op) = drain.next(&self.model) {
            self.step(op)?;
            self.summary.drain_ops += 1;
        }
        Ok(())
    }

    /// Issues `op`, checks the reply and updates the model.
    fn step(&mut self, op: Op) -> Result<(), Box<Mismatch>> {
        let slot = op.slot();
        let process = match op {
            Op::Open { process, .. } => process,
            _ => self.owners[slot].expect("the generator names open slots"),
        };
        let before = describe(&self.model, self.model.file(slot).copied());
        let reply = match self.holders[process].run(&op) {
            Ok(reply) => reply,
            Err(err) => {
                let actual = format!("the worker failed: {err}");
                let expected = expect(&mut self.model, &op, None).reply.to_string();
                return Err(self.mismatch(op, process, before, expected, actual, None));
            }
        };
        let expectation = expect(&mut self.model, &op, Some(&reply));
        if expectation.reply != reply {
            let detail = difference(&expectation.reply, &reply);
            let expected = expectation.reply.to_string();
            return Err(self.mismatch(op, process, before, expected, reply.to_string(), detail));
        }

        match op {
            Op::Open { .. } => self.owners[slot] = Some(process),
            Op::Close { .. } => self.owners[slot] = None,
            _ => {}
        }
        *self.summary.kinds.entry(op.kind()).or_default() += 1;
        self.summary.faults += u64::from(op.fault().is_some());
        self.summary.short_copies += u64::from(expectation.short_copy);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(format!(
            "#{} [process {process}] {op} -> {reply}",
            self.index
        ));
        self.index += 1;
        Ok(())
    }

    fn mismatch(
        &self,
        op: Op,
        process: usize,
        before: String,
        expected: String,
        actual: String,
        detail: Option<String>,
    ) -> Box<Mismatch> {
        Box::new(Mismatch {
            seed: self.config.seed,
            index: self.index,
            op,
            process,
            before,
            expected,
            actual,
            detail,
            history: self.history.iter().cloned().collect(),
            replay: self.config.replay(self.max_len),
        })
    }
}

/// The model's view of a file and of the device, for a report.
fn describe(model: &Model, file: Option<File>) -> String {
    let stats = model.stats();
    let file = match file {
        Some(file) => format!(
            "file {:?}{}",
            file.access,
            if file.nonblock { " O_NONBLOCK" } else { "" }
        ),
        None => "no file".to_owned(),
    };
    format!(
        "{file}; device used={} free={} readers={} writers={}",
        stats.used, stats.available, stats.readers, stats.writers
    )
}

/// Where two replies of the same shape differ, when their text does not
/// show it: the first differing byte of a read, the differing statistics.
fn difference(expected: &Reply, actual: &Reply) -> Option<String> {
    match (expected, actual) {
        (
            Reply::Read {
                result: Ok(n),
                data: want,
            },
            Reply::Read {
                result: Ok(m),
                data: got,
            },
        ) if n == m => {
            let at = want.iter().zip(got).position(|(a, b)| a != b);
            Some(match at {
                Some(at) => format!(
                    "first different byte at offset {at}: expected {:#04x}, got {:#04x}",
                    want[at], got[at]
                ),
                None => format!(
                    "{} bytes expected, {} bytes returned in accessible memory",
                    want.len(),
                    got.len()
                ),
            })
        }
        (Reply::Stats(Ok(want)), Reply::Stats(Ok(got))) => {
            let fields: Vec<String> = want
                .fields()
                .iter()
                .zip(got.fields())
                .filter(|((_, a), (_, b))| a != b)
                .map(|((name, a), (_, b))| format!("{name} expected {a}, got {b}"))
                .collect();
            Some(fields.join("; "))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::rc::Rc;

    use rustix::io::Errno;

    use super::*;

    /// A process holding files of a simulated device that behaves exactly
    /// as the model says. It refuses operations on files it does not hold,
    /// so a run that routes an operation to the wrong process fails.
    struct Simulated {
        device: Rc<RefCell<Model>>,
        held: BTreeSet<usize>,
        /// The operation index at which to answer wrongly, counted over
        /// every process, and the count so far.
        corrupt_at: Option<u64>,
        seen: Rc<RefCell<u64>>,
    }

    impl Holder for Simulated {
        fn run(&mut self, op: &Op) -> io::Result<Reply> {
            let slot = op.slot();
            match op {
                Op::Open { .. } => assert!(self.held.insert(slot), "slot {slot} reopened"),
                _ => assert!(self.held.contains(&slot), "{op} sent to the wrong process"),
            }
            if let Op::Close { .. } = op {
                self.held.remove(&slot);
            }
            let index = {
                let mut seen = self.seen.borrow_mut();
                *seen += 1;
                *seen - 1
            };
            let mut reply = expect(&mut self.device.borrow_mut(), op, None).reply;
            if self.corrupt_at == Some(index) {
                reply = Reply::Status(Err(Errno::INTR));
            }
            Ok(reply)
        }
    }

    fn config(seed: u64, ops: u64, processes: usize) -> Config {
        Config {
            device: "/dev/circbuf".into(),
            seed,
            ops,
            files: 3,
            processes,
            max_size: None,
        }
    }

    fn simulate(config: &Config, corrupt_at: Option<u64>) -> Result<Summary, Box<Mismatch>> {
        let baseline = Stats {
            capacity: 100,
            reads: 7,
            bytes_written: 9,
            write_waits: 2,
            ..Stats::default()
        };
        let device = Rc::new(RefCell::new(Model::new(baseline, config.files)));
        let seen = Rc::new(RefCell::new(0));
        let mut processes: Vec<Simulated> = (0..config.processes.max(1))
            .map(|_| Simulated {
                device: device.clone(),
                held: BTreeSet::new(),
                corrupt_at,
                seen: seen.clone(),
            })
            .collect();
        let mut holders: Vec<&mut dyn Holder> =
            processes.iter_mut().map(|p| p as &mut dyn Holder).collect();
        let outcome = fuzz(config, baseline, &mut holders);
        if outcome.is_ok() {
            assert_eq!(device.borrow().used(), 0, "the drain empties the device");
            assert!(processes.iter().all(|p| p.held.is_empty()));
        }
        outcome
    }

    #[test]
    fn a_device_that_follows_the_model_passes() {
        let summary = simulate(&config(11, 3_000, 3), None).expect("no mismatch");
        assert_eq!(summary.ops, 3_000);
        assert!(summary.drain_ops >= 3);
        let counted: u64 = summary.kinds.values().sum();
        assert_eq!(counted, summary.ops + summary.drain_ops);
        assert!(summary.faults > 0);
        assert_eq!(summary.short_copies, 0);
        // Resets discard bytes, so fewer may be read than were written.
        assert!(summary.bytes_read > 0 && summary.bytes_read <= summary.bytes_written);
        simulate(&config(12, 500, 0), None).expect("no mismatch in one process");
    }

    #[test]
    fn the_first_wrong_reply_is_reported_with_its_history() {
        let mismatch = simulate(&config(5, 1_000, 2), Some(300)).unwrap_err();
        assert_eq!(mismatch.index, 300);
        assert_eq!(mismatch.seed, 5);
        assert_eq!(mismatch.actual, "Err(EINTR)");
        assert_eq!(mismatch.history.len(), HISTORY);
        assert!(mismatch.history[HISTORY - 1].starts_with("#299 "));
        let report = mismatch.to_string();
        assert!(report.starts_with("fuzz: MISMATCH at operation #300 (seed 5)"));
        assert!(report.contains(
            "replay: fuzz /dev/circbuf --seed 5 --ops 1000 --files 3 --processes 2 --max-size 201"
        ));
    }

    #[test]
    fn differences_name_the_byte_or_the_field() {
        let want = Reply::Read {
            result: Ok(3),
            data: vec![1, 2, 3],
        };
        let got = Reply::Read {
            result: Ok(3),
            data: vec![1, 9, 3],
        };
        assert_eq!(
            difference(&want, &got).unwrap(),
            "first different byte at offset 1: expected 0x02, got 0x09"
        );
        let want = Reply::Stats(Ok(Stats::default()));
        let got = Reply::Stats(Ok(Stats {
            read_waits: 1,
            ..Stats::default()
        }));
        assert_eq!(
            difference(&want, &got).unwrap(),
            "read_waits expected 0, got 1"
        );
        assert_eq!(
            difference(&Reply::Status(Ok(1)), &Reply::Status(Err(Errno::AGAIN))),
            None
        );
    }

    #[test]
    fn summary_is_one_line_with_every_kind() {
        let mut summary = Summary {
            seed: 5,
            ops: 10,
            drain_ops: 3,
            ..Summary::default()
        };
        summary.kinds.insert(Kind::Poll, 4);
        let line = summary.to_string();
        assert!(!line.contains('\n'));
        assert!(line.starts_with("fuzz: seed=5 capacity=0 ops=10+3 open=0"));
        assert!(line.contains(" poll=4 "));
        assert!(line.ends_with("verdict=PASS"));
    }
}
