//! A throwaway PostgreSQL server for the relay's tests on its PostgreSQL store: a new cluster
//! in a temporary folder, on a free loopback port, trusted local access, stopped and removed
//! when [`TestPostgres`] is dropped. Debian's `postgresql` package provides the programs (the
//! package's own cluster is not used). The server refuses to run as root, so as root it runs as
//! the package's `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cmd, output, run};

#[derive(Debug)]
pub struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    as_root: bool,
    /// The address of the server's `postgres` database (`postgresql://…`, no query).
    pub url: String,
}

impl TestPostgres {
    pub fn start() -> Result<Self> {
        let bin = bindir()?;
        let as_root = output(cmd("id").arg("-u")).is_some_and(|u| u.trim() == "0");
        // Under the temporary folder, not target/: the `postgres` user must reach it.
        let dir = std::env::temp_dir().join(format!("movietalk-test-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if as_root {
            run(cmd("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        let port = free_port()?;
        let server = TestPostgres {
            url: format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
            bin,
            dir,
            as_root,
        };
        let data = server.dir.join("data");
        run(server
            .pg("initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-locale",
                "-D",
            ])
            .arg(&data)
            .stdout(std::process::Stdio::null()))?;
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            server.dir.display()
        );
        run(server
            .pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(server.dir.join("server.log"))
            .args(["-o", &options, "-w", "start"])
            .stdout(std::process::Stdio::null()))
        .with_context(|| format!("see {}", server.dir.join("server.log").display()))?;
        Ok(server)
    }

    /// A command running PostgreSQL's `program`, as the `postgres` user when we are root.
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_root {
            let mut c = cmd("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            cmd(path)
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where Debian put the newest installed PostgreSQL's programs.
fn bindir() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .with_context(|| {
            format!(
                "no PostgreSQL in {} (Debian package postgresql)",
                root.display()
            )
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no PostgreSQL server programs under {}", root.display()),
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
