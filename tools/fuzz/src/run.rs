// SPDX-License-Identifier: GPL-2.0

//! The controller: checks that the device is idle, issues the operations
//! one at a time, judges every reply against the model, hands each call
//! that sleeps to a child process and sees it fall asleep, collects what
//! the calls it woke returned, and sums up or reports the first difference.
//!
//! The device's counters are not reset (no ioctl can): the run takes them
//! as a baseline and expects them to move by exactly what it did.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use circbuf::testing::{check_idle, watchdog};
use circbuf::Stats;

use crate::child::Child;
use crate::exec::Executor;
use crate::expect::{expect, Outcome};
use crate::generate::Generator;
use crate::model::{Model, Sleeper, Wake};
use crate::op::{Buffer, Op, Reply};
use crate::Cli;

/// How long a call may take to return, or to fall asleep, before the run
/// calls it lost.
const LIMIT: Duration = Duration::from_secs(10);

/// How many operations before a failing one its report lists.
const HISTORY: usize = 20;

/// What an operation's check found: nothing wrong, or why the run stops.
type Checked = Result<(), RunError>;

/// Why a run did not pass.
pub enum RunError {
    /// The run could not be made; this says nothing about the device.
    Setup(String),
    /// The index of the first operation the device got wrong, and the
    /// report, with the operations before it and the replay command.
    Mismatch(u64, String),
}

/// What a passing run did, printed as one line.
#[derive(Default)]
pub struct Summary {
    seed: u64,
    ops: u64,
    end_ops: u64,
    /// Operations by name, the end's included.
    kinds: BTreeMap<&'static str, u64>,
    sleeps: u64,
    most_asleep: usize,
    /// Operations handed a bad buffer, and copies that stopped short of it.
    faults: u64,
    short_copies: u64,
    /// The model's counters at the end.
    stats: Stats,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(f, "fuzz: seed={} capacity={}", self.seed, s.capacity)?;
        write!(f, " ops={}+{}", self.ops, self.end_ops)?;
        let counts = [
            ("sleeps", self.sleeps),
            ("most_asleep", self.most_asleep as u64),
            ("read_waits", s.read_waits),
            ("write_waits", s.write_waits),
            ("dropped_records", s.dropped_records),
            ("faults", self.faults),
            ("short_copies", self.short_copies),
        ];
        for (name, count) in self.kinds.iter().map(|(n, c)| (*n, *c)).chain(counts) {
            write!(f, " {name}={count}")?;
        }
        write!(f, " verdict=PASS")
    }
}

/// A call asleep in a child process.
struct Asleep {
    op: Op,
    child: Child,
}

/// A run in progress.
struct Run<'a> {
    config: &'a Cli,
    seed: u64,
    max_len: usize,
    model: Model,
    exec: Executor,
    /// The model's view of the calls asleep, and their processes, in step.
    sleepers: Vec<Sleeper>,
    asleep: Vec<Asleep>,
    history: VecDeque<String>,
    summary: Summary,
    index: u64,
}

/// Runs the fuzzer with `seed` on the idle device `config` names.
pub fn run(config: &Cli, seed: u64) -> Result<Summary, RunError> {
    let idle = check_idle(&config.device).map_err(RunError::Setup)?;
    if let Some(warning) = idle.warning {
        eprintln!("fuzz: warning: {warning}");
    }
    let baseline = idle.stats;
    let capacity = usize::try_from(baseline.capacity).expect("the capacity fits in memory");
    let mut run = Run {
        config,
        seed,
        max_len: config.max_size.unwrap_or(2 * capacity + 1),
        model: Model::new(baseline, config.files),
        exec: Executor::new(config.device.clone(), config.files),
        sleepers: Vec::new(),
        asleep: Vec::new(),
        history: VecDeque::with_capacity(HISTORY),
        summary: Summary {
            seed,
            ..Summary::default()
        },
        index: 0,
    };
    let outcome = run.all(baseline.mode as u32);
    for asleep in run.asleep.drain(..) {
        asleep.child.kill();
    }
    outcome?;
    run.summary.stats = run.model.stats();
    Ok(run.summary)
}

impl Run<'_> {
    fn all(&mut self, baseline_mode: u32) -> Checked {
        // Fewer calls asleep than slots, so that a file can always be opened.
        let max_asleep = self.config.processes.min(self.config.files - 1);
        let mut generator = Generator::new(self.seed, self.max_len, max_asleep);
        for _ in 0..self.config.ops {
            let op = generator.next(&self.model, &self.sleepers);
            self.step(op)?;
            self.summary.ops += 1;
        }
        while let Some(op) = generator.end(&self.model, &self.sleepers, baseline_mode) {
            self.step(op)?;
            self.summary.end_ops += 1;
        }
        Ok(())
    }

    /// Issues `op`, here or in a child if it sleeps, checks the reply and
    /// what it woke, and updates the model.
    fn step(&mut self, op: Op) -> Checked {
        let before = self.describe(op.slot());
        if matches!(op, Op::Read(..) | Op::Write(..)) {
            let mut probe = self.model.clone();
            if let Outcome::Sleeps(sleeper) = expect(&mut probe, &op, None, &mut 0) {
                return self.sleep(op, probe, sleeper, &before);
            }
        }
        let reply = {
            let _armed = watchdog::arm(LIMIT);
            self.exec.run(&op)
        };
        let short = &mut self.summary.short_copies;
        let Outcome::Reply(expected) = expect(&mut self.model, &op, Some(&reply), short) else {
            unreachable!("the probe said the call does not sleep");
        };
        if expected != reply {
            return Err(self.differ(&format!("{op:?}"), &before, &expected, &reply));
        }
        self.record(&op, &reply.to_string());
        self.wake_sleepers()
    }

    /// Hands `op`, which the model `probe` has put to sleep as `sleeper`,
    /// to a child process, and sees it fall asleep.
    fn sleep(&mut self, op: Op, mut probe: Model, mut sleeper: Sleeper, before: &str) -> Checked {
        let slept = probe.sleep(&mut sleeper);
        assert_eq!(slept, Wake::Slept, "a call that waits sleeps");
        let valid =
            matches!(&op, Op::Read(.., via) | Op::Write(.., via) if via.buffer() == Buffer::Valid);
        assert!(valid, "a call that sleeps is handed valid memory: {op:?}");
        let child = Child::spawn(&mut self.exec, &op)
            .unwrap_or_else(|err| panic!("cannot fork a process for a call that sleeps: {err}"));
        self.model = probe;
        self.record(&op, &format!("asleep in process {}", child.pid()));
        self.asleep.push(Asleep { op, child });
        self.sleepers.push(sleeper);
        self.summary.sleeps += 1;
        self.summary.most_asleep = self.summary.most_asleep.max(self.sleepers.len());
        self.await_sleep(self.sleepers.len() - 1, before)
    }

    /// Applies the change the last operation made to every call asleep,
    /// and checks what those it woke returned or that they fell asleep.
    fn wake_sleepers(&mut self) -> Checked {
        let mut i = 0;
        while i < self.sleepers.len() {
            let before = self.describe(self.sleepers[i].slot());
            let wake = self.model.wake(&mut self.sleepers[i]);
            if wake == Wake::Slept {
                self.await_sleep(i, &before)?;
            }
            let Wake::Done(result, data) = wake else {
                i += 1;
                continue;
            };
            let expected = match self.asleep[i].op {
                Op::Read(..) => Reply::Read(result, data),
                _ => Reply::Status(result.map(|n| n as u64)),
            };
            match self.collect(i) {
                (op, Ok(reply)) if reply == expected => {
                    self.remember(format!("   {op} woken -> {reply}"));
                }
                (op, Ok(reply)) => return Err(self.differ(&op, &before, &expected, &reply)),
                (op, Err(err)) => {
                    let actual = format!("no reply within {LIMIT:?} (a lost wake-up?): {err}");
                    return Err(self.mismatch(&op, &before, &expected.to_string(), &actual));
                }
            }
        }
        Ok(())
    }

    /// Waits until the device's wait counters show that the call of
    /// sleeper `i` sleeps, then checks every counter. The counter moves
    /// under the lock the call stored under, just before it sleeps.
    fn await_sleep(&mut self, i: usize, before: &str) -> Checked {
        let expected = self.model.stats();
        let slot = self.sleepers[i].slot();
        let deadline = Instant::now() + LIMIT;
        let (op, pid) = (&self.asleep[i].op, self.asleep[i].child.pid());
        let op = format!("{op:?} [process {pid}]");
        let (reads, writes) = (expected.read_waits, expected.write_waits);
        let wanted = format!("asleep, with read_waits={reads} write_waits={writes}");
        loop {
            if self.asleep[i].child.has_returned() {
                let actual = match self.collect(i).1 {
                    Ok(reply) => format!("returned {reply}"),
                    Err(err) => format!("the child failed: {err}"),
                };
                return Err(self.mismatch(&op, before, &wanted, &actual));
            }
            let got = match self.exec.stats(slot) {
                Ok(got) => got,
                Err(errno) => {
                    let actual = format!("stats: {errno:?}");
                    return Err(self.mismatch(&op, before, &wanted, &actual));
                }
            };
            let now = (got.read_waits, got.write_waits);
            if now == (reads, writes) {
                if got == expected {
                    return Ok(());
                }
                let (expected, got) = (Reply::Stats(Ok(expected)), Reply::Stats(Ok(got)));
                return Err(self.differ(&op, before, &expected, &got));
            }
            if now.0 > reads || now.1 > writes || Instant::now() > deadline {
                let actual = format!("read_waits={} write_waits={}", now.0, now.1);
                return Err(self.mismatch(&op, before, &wanted, &actual));
            }
            std::thread::yield_now();
        }
    }

    /// Takes sleeper `i` out of the run and reads its child's reply, ending
    /// the child if it gives none; with the call's description.
    fn collect(&mut self, i: usize) -> (String, std::io::Result<Reply>) {
        self.sleepers.remove(i);
        let mut asleep = self.asleep.remove(i);
        let op = format!("{:?} [process {}]", asleep.op, asleep.child.pid());
        let reply = {
            let _armed = watchdog::arm(LIMIT);
            asleep.child.reply(&asleep.op)
        };
        if reply.is_err() {
            asleep.child.kill();
        }
        (op, reply)
    }

    /// Counts `op`, and remembers it and its outcome for a report.
    fn record(&mut self, op: &Op, outcome: &str) {
        *self.summary.kinds.entry(op.name()).or_default() += 1;
        self.summary.faults += u64::from(op.faults());
        self.remember(format!("#{} {op:?} -> {outcome}", self.index));
        self.index += 1;
    }

    fn remember(&mut self, line: String) {
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    /// The model's view of a file and of the device, for a report.
    fn describe(&self, slot: usize) -> String {
        let s = self.model.stats();
        let file = match self.model.file(slot) {
            Some(file) if file.nonblock => format!("file {:?} O_NONBLOCK", file.access),
            Some(file) => format!("file {:?}", file.access),
            None => "no file".to_owned(),
        };
        let mode = self.model.mode().name();
        let asleep: Vec<usize> = self.sleepers.iter().map(Sleeper::slot).collect();
        format!(
            "{file}; device {mode} used={} free={} writers={} asleep on slots {asleep:?}",
            s.used, s.available, s.writers
        )
    }

    /// A mismatch of two replies, with where they differ if their text
    /// does not show it.
    fn differ(&self, op: &str, before: &str, expected: &Reply, actual: &Reply) -> RunError {
        let mut actual_text = actual.to_string();
        if let Some(detail) = difference(expected, actual) {
            actual_text += &format!("\n  detail:    {detail}");
        }
        self.mismatch(op, before, &expected.to_string(), &actual_text)
    }

    fn mismatch(&self, op: &str, before: &str, expected: &str, actual: &str) -> RunError {
        let c = self.config;
        let mut report = format!("fuzz: MISMATCH at operation #{}\n", self.index);
        report += &format!("  operation: {op}\n  before:    {before}\n");
        report += &format!("  expected:  {expected}\n  actual:    {actual}\n");
        report += &format!("  last {} operations:\n", self.history.len());
        for line in &self.history {
            report += &format!("    {line}\n");
        }
        report += &format!(
            "  replay: fuzz {} --seed {} --ops {} --files {} --processes {} --max-size {}",
            c.device.display(),
            self.seed,
            c.ops,
            c.files,
            c.processes,
            self.max_len
        );
        RunError::Mismatch(self.index, report)
    }
}

/// Where two replies of the same shape differ, when their text does not
/// show it: the first differing byte of a read, the differing statistics.
fn difference(expected: &Reply, actual: &Reply) -> Option<String> {
    match (expected, actual) {
        (Reply::Read(Ok(n), want), Reply::Read(Ok(m), got)) if n == m => {
            let at = want.iter().zip(got).position(|(a, b)| a != b)?;
            Some(format!(
                "first different byte at offset {at}: expected {:#04x}, got {:#04x}",
                want[at], got[at]
            ))
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
    use super::*;

    #[test]
    fn differences_name_the_byte_or_the_field() {
        let read = |data: Vec<u8>| Reply::Read(Ok(3), data);
        assert_eq!(
            difference(&read(vec![1, 2, 3]), &read(vec![1, 9, 3])).unwrap(),
            "first different byte at offset 1: expected 0x02, got 0x09"
        );
        let got = Reply::Stats(Ok(Stats {
            read_waits: 1,
            ..Stats::default()
        }));
        assert_eq!(
            difference(&Reply::Stats(Ok(Stats::default())), &got).unwrap(),
            "read_waits expected 0, got 1"
        );
        assert_eq!(
            difference(&Reply::Status(Ok(1)), &Reply::Status(Ok(2))),
            None
        );
    }

    #[test]
    fn summary_is_one_line_ending_in_the_verdict() {
        let mut summary = Summary {
            seed: 5,
            ops: 10,
            end_ops: 3,
            ..Summary::default()
        };
        summary.kinds.insert("poll", 4);
        let line = summary.to_string();
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("fuzz: seed=5 capacity=0 ops=10+3 poll=4 sleeps=0"),
            "{line}"
        );
        assert!(line.ends_with("verdict=PASS"));
    }
}
