//! Running part of a test in a separate process: the test binary re-runs itself
//! with one `#[ignore]`d test selected (`NAME --exact --ignored --nocapture`)
//! and [`CHILD_ENV`] set. Used where a test needs a process of its own: one
//! that is killed mid-request (the crash test), or whose every output byte is
//! captured (the log scan).
//!
//! The child shares the parent's moto (its endpoint is passed in
//! [`MOTO_ENDPOINT_ENV`], which [`crate::moto`] honours) and is killed if it
//! outlives its time limit.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Set (to `1`) in a child process; a child test does nothing without it.
pub const CHILD_ENV: &str = "CONTRACT_HOOKS_TEST_CHILD";
/// A running moto's endpoint, for a child to use instead of starting its own.
pub const MOTO_ENDPOINT_ENV: &str = "CONTRACT_HOOKS_MOTO_ENDPOINT";

/// True inside a child started by [`run`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// What a child did.
#[derive(Debug)]
pub struct ChildOutput {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl ChildOutput {
    /// The signal that ended the child, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal()
    }
}

/// Runs the ignored test `name` of this test binary in a new process with the
/// extra environment `envs`, and waits for it (at most `limit`, then it is
/// killed and this panics). Blocking: call it from `spawn_blocking`, or use
/// [`run_async`].
pub fn run(name: &str, envs: &[(&str, &str)], limit: Duration) -> ChildOutput {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env(MOTO_ENDPOINT_ENV, &crate::moto().endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        command.env(k, v);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("starting the child test process");
    // Read both pipes while it runs, so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!("child test {name} ran longer than {limit:?}; killed. stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    ChildOutput {
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// [`run`] off the async runtime's threads.
pub async fn run_async(name: &str, envs: &[(&str, &str)], limit: Duration) -> ChildOutput {
    let name = name.to_owned();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&name, &envs, limit)
    })
    .await
    .expect("the child runner panicked")
}
