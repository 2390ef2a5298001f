//! A time limit on every `trawl` process a test runs: a run that hangs becomes a failing test
//! that prints where each of its threads was stuck (gdb, when the machine has it) and its
//! stderr, instead of a test binary that never ends and a CI run that times out saying nothing.

use std::{
    process::{Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Longer than any run the tests make takes on a loaded 2-core machine (the longest are well
/// under a minute), short enough that a hang leaves CI time to report the rest.
/// `TRAWL_TEST_RUN_LIMIT_SECS` overrides it (shorter, to hunt a rare hang in a loop).
pub fn run_limit() -> Duration {
    let secs = std::env::var("TRAWL_TEST_RUN_LIMIT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    Duration::from_secs(secs)
}

/// `Command::output` with [`run_limit`].
pub trait OutputWithin {
    /// Runs to the end and collects stdout and stderr, as `output()` does; past the limit,
    /// dumps the threads, kills the process and panics with the dump and its stderr.
    fn output_within_limit(&mut self) -> Output;
}

impl OutputWithin for Command {
    fn output_within_limit(&mut self) -> Output {
        let child = self.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.get_program()));
        let pid = child.id();
        let limit = run_limit();
        let (done, ended) = mpsc::channel::<()>();
        let watch = std::thread::spawn(move || match ended.recv_timeout(limit) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let stacks = thread_dump(pid);
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                Some(stacks)
            }
            _ => None,
        });
        let out = child.wait_with_output().unwrap();
        let _ = done.send(());
        if let Some(stacks) = watch.join().unwrap() {
            panic!(
                "{:?} {:?} was still running after {limit:?} and was killed.\n--- its threads ---\n{stacks}\n--- its stderr ---\n{}",
                self.get_program(),
                self.get_args().collect::<Vec<_>>(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }
}

/// Every thread's backtrace of process `pid`, or why there is none.
pub fn thread_dump(pid: u32) -> String {
    match Command::new("gdb").args(["-p", &pid.to_string(), "-batch", "-nx", "-ex", "set pagination off", "-ex", "thread apply all bt"]).stdin(Stdio::null()).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with('#') || l.starts_with("Thread ")).collect::<Vec<_>>().join("\n"),
        Err(e) => format!("(no thread dump: gdb did not run: {e})"),
    }
}
