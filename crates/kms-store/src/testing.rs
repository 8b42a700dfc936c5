//! A throwaway PostgreSQL server for tests (this crate's conformance suite
//! and the kms end-to-end suite, through the `test-support` feature): a
//! cluster made with `initdb` in a temporary directory, listening on a free
//! loopback port with its Unix socket in the same directory, stopped and
//! removed when the guard is dropped, also when a test panics.
//!
//! The server binaries are looked for in `$KMS_TEST_PG_BIN`, then in
//! `/usr/lib/postgresql/<newest>/bin` (Debian's `postgresql` package, which
//! `.ci/run` installs). Missing, the test fails saying so: it never skips.
//! PostgreSQL refuses to run as root, so as root (CI, this machine) every
//! server command runs as `nobody` through `runuser`, in a directory given
//! to `nobody`.

// Test support: a failure to set up the server is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running (or stopped, with [`TestPostgres::stop`]) server; dropped, it
/// is stopped and its directory removed.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `nobody` when running as root.
    run_as: Option<&'static str>,
    running: bool,
}

/// Where the server binaries are, or a message saying how to get them.
pub fn find_binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("KMS_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
        return Err(format!("KMS_TEST_PG_BIN={} holds no initdb", dir.display()));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, KMS_TEST_PG_BIN unset): \
         install them with `apt-get install postgresql` (.ci/run does)"
            .to_string()
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn id_of(flag: &str, user: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no user {user} to run PostgreSQL as"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestPostgres {
    /// A new cluster, started.
    pub fn start() -> TestPostgres {
        Self::start_with(&[])
    }

    /// A new cluster with `settings` (lines of postgresql.conf) added, started.
    pub fn start_with(settings: &[&str]) -> TestPostgres {
        let bin = find_binaries().unwrap_or_else(|e| panic!("{e}"));
        let run_as = is_root().then_some("nobody");
        // The server's user must reach the directory: as root, under /tmp
        // whatever TMPDIR says.
        let parent = if run_as.is_some() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = tempfile::Builder::new().prefix("kms-pg").tempdir_in(parent).unwrap();
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(id_of("-u", user)), Some(id_of("-g", user))).unwrap();
        }
        let mut pg = TestPostgres { dir, bin, port: free_port(), run_as, running: false };
        let data = pg.data_dir();
        pg.run("initdb", &["-D", data.to_str().unwrap(), "-U", "kms", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"]);
        let mut conf = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 50\n",
            pg.port,
            pg.dir.path().display()
        );
        for s in settings {
            conf.push_str(s);
            conf.push('\n');
        }
        let path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        std::fs::write(&path, text).unwrap();
        pg.start_again();
        pg
    }

    /// The temporary directory (socket, log; files for the server go here,
    /// see [`TestPostgres::give`]).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://kms@127.0.0.1:PORT/postgres`, over TCP.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://kms@127.0.0.1:{}/{db}", self.port)
    }

    /// Make `path` (in [`TestPostgres::dir`]) the server user's, mode 0600.
    pub fn give(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(id_of("-u", user)), Some(id_of("-g", user))).unwrap();
        }
    }

    /// Append to the cluster's pg_hba.conf, before its own lines (which match first).
    pub fn hba_first(&self, lines: &str) {
        let path = self.data_dir().join("pg_hba.conf");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{lines}\n{text}")).unwrap();
    }

    /// A new database.
    pub fn createdb(&self, name: &str) {
        let (host, port) = (self.dir.path().to_str().unwrap().to_string(), self.port.to_string());
        self.run("createdb", &["-h", &host, "-p", &port, "-U", "kms", name]);
    }

    /// A streaming standby of this server (`pg_basebackup -R`), started,
    /// on its own port and directory; this server waits for it at every
    /// commit (`synchronous_standby_names = '*'`, `synchronous_commit = on`).
    pub fn standby(&self) -> TestPostgres {
        let parent = if self.run_as.is_some() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = tempfile::Builder::new().prefix("kms-pg-standby").tempdir_in(parent).unwrap();
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(dir.path(), Some(id_of("-u", user)), Some(id_of("-g", user))).unwrap();
        }
        let mut standby =
            TestPostgres { dir, bin: self.bin.clone(), port: free_port(), run_as: self.run_as, running: false };
        let data = standby.data_dir();
        let (host, port) = (self.dir.path().to_str().unwrap().to_string(), self.port.to_string());
        standby.run(
            "pg_basebackup",
            &["-h", &host, "-p", &port, "-U", "kms", "-D", data.to_str().unwrap(), "-R", "-X", "stream"],
        );
        let path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!(
            "\nport = {}\nunix_socket_directories = '{}'\n",
            standby.port,
            standby.dir.path().display()
        ));
        std::fs::write(&path, text).unwrap();
        standby.start_again();
        let path = self.data_dir().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\nsynchronous_standby_names = '*'\nsynchronous_commit = on\n");
        std::fs::write(&path, text).unwrap();
        self.run("pg_ctl", &["-D", self.data_dir().to_str().unwrap(), "reload"]);
        standby
    }

    /// Make this standby a primary (`pg_ctl promote`, waiting until it takes writes).
    pub fn promote(&self) {
        self.run("pg_ctl", &["-D", self.data_dir().to_str().unwrap(), "-w", "promote"]);
    }

    /// Stop the server (fast shutdown: connections are closed).
    pub fn stop(&mut self) {
        let data = self.data_dir();
        self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"]);
        self.running = false;
    }

    /// Start the (stopped) server again, on the same port.
    pub fn start_again(&mut self) {
        let (data, log) = (self.data_dir(), self.dir.path().join("log"));
        let out = self
            .command("pg_ctl", &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "60", "start"]);
        if !out.status.success() {
            panic!(
                "PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.running = true;
    }

    fn command(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(self.dir.path()).env_remove("PGDATA");
        cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args);
        if !out.status.success() {
            panic!(
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let _ = self.command("pg_ctl", &["-D", data.to_str().unwrap_or(""), "-m", "immediate", "-w", "stop"]);
        }
    }
}
