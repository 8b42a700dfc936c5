//! CPU time of a process from `/proc/<pid>/stat` (Linux), so a report can
//! say how much CPU the server and the load generator spent per request;
//! its resident memory and open files, so the overload run can show they
//! stay bounded.

/// Linux reports utime/stime in USER_HZ ticks, 100 per second on every
/// mainstream architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// `pid`'s user + system CPU time in seconds; `None` where /proc is absent.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The CPU time of `pid`'s threads named `name` (`/proc/<pid>/task/*/comm`,
/// which the kernel cuts to 15 bytes), in seconds; `None` where /proc is absent.
pub fn thread_cpu_seconds(pid: u32, name: &str) -> Option<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            total += parse_stat(&std::fs::read_to_string(task.path().join("stat")).ok()?)?;
        }
    }
    Some(total)
}

pub fn self_cpu_seconds() -> Option<f64> {
    cpu_seconds(std::process::id())
}

fn parse_stat(text: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces; fields after it are
    // counted from the closing parenthesis. utime and stime are fields 14, 15.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&text, field)
}

fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// How many files `pid` has open (its sockets included): `/proc/<pid>/fd`.
pub fn open_files(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// A before/after pair of CPU readings.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuWindow {
    pub client_start: Option<f64>,
    pub client_end: Option<f64>,
    pub server_start: Option<f64>,
    pub server_end: Option<f64>,
}

impl CpuWindow {
    pub fn client_seconds(&self) -> Option<f64> {
        Some(self.client_end? - self.client_start?)
    }

    pub fn server_seconds(&self) -> Option<f64> {
        Some(self.server_end? - self.server_start?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_thread_has_its_own_cpu_time() {
        let pid = std::process::id();
        let busy = std::thread::Builder::new()
            .name("procstat-busy".into())
            .spawn(move || {
                // Busy until /proc says this thread spent 0.1 s (10 s at most).
                let started = std::time::Instant::now();
                let mut x = 0u64;
                loop {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                    }
                    let spent = thread_cpu_seconds(pid, "procstat-busy").unwrap();
                    if spent >= 0.1 || started.elapsed() > std::time::Duration::from_secs(10) {
                        return spent;
                    }
                }
            })
            .unwrap();
        let spent = busy.join().unwrap();
        assert!(spent >= 0.1, "{spent}");
        assert_eq!(thread_cpu_seconds(pid, "no-such-thread"), Some(0.0));
    }

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let line = "1234 (tokio runtime) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(line), Some(3.0));
    }

    #[test]
    fn parses_status() {
        let text = "Name:\tkms\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\nThreads:\t4\n";
        assert_eq!(parse_status_kb(text, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kb(text, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kb(text, "VmSwap"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_itself() {
        assert!(self_cpu_seconds().is_some());
        let pid = std::process::id();
        assert!(status_kb(pid, "VmRSS").is_some_and(|kb| kb > 0));
        assert!(open_files(pid).is_some_and(|n| n >= 3));
    }
}
