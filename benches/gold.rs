//! `just bench`: runs one workload (5,000 INSERTs in a transaction, then 2,000 point
//! SELECTs with their expected rows) through `helios-matrix run` and through each server's
//! own command-line client (`psql -f`, `mariadb <`), several rounds each, alternating, and
//! prints the median wall-time ratio helios-matrix ÷ client per server, plus
//! helios-matrix's peak memory. Driver rows do the same through `run --driver psycopg2` /
//! `--driver pymysql` against a plain Python loop issuing the same statements with that
//! driver (`python -m helios_driver_host.bench`): the cost of the driver host. The
//! baselines are measured in the same run, on the same machine, against the same servers
//! (`just services`, `just drivers`).
//!
//! Environment: BENCH_ROUNDS (default 5), BENCH_INSERTS (5000), BENCH_SELECTS (2000).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same statements as SQL (for the clients) and as a spec (for helios-matrix).
fn workload(inserts: usize, selects: usize) -> (String, String) {
    let mut sql = String::from(
        "DROP TABLE IF EXISTS bench_rows;\nCREATE TABLE bench_rows (id BIGINT PRIMARY KEY, name VARCHAR(40), value BIGINT);\nBEGIN;\n",
    );
    let mut spec = String::from(
        "suite: bench\nprotocols: [postgresql, mysql]\ncases:\n  - id: BENCH-001\n    name: 5000 inserts and 2000 point selects\n    steps:\n      - statement: DROP TABLE IF EXISTS bench_rows\n      - statement: CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, name VARCHAR(40), value BIGINT)\n      - begin\n",
    );
    for i in 0..inserts {
        let stmt = format!(
            "INSERT INTO bench_rows (id, name, value) VALUES ({i}, 'row{i}', {})",
            i * 7
        );
        let _ = writeln!(sql, "{stmt};");
        let _ = writeln!(spec, "      - statement: {stmt}");
    }
    sql.push_str("COMMIT;\n");
    spec.push_str("      - commit\n");
    for k in 0..selects {
        // Spread over the table, deterministic.
        let i = (k * 7919) % inserts.max(1);
        let stmt = format!("SELECT name, value FROM bench_rows WHERE id = {i}");
        let _ = writeln!(sql, "{stmt};");
        let _ = writeln!(
            spec,
            "      - query: {stmt}\n        rows: [[row{i}, {}]]",
            i * 7
        );
    }
    sql.push_str("DROP TABLE bench_rows;\n");
    spec.push_str("      - statement: DROP TABLE bench_rows\n");
    (sql, spec)
}

/// Runs a command to completion; its wall time, or why it failed.
fn timed(mut cmd: Command, stdin: Option<&Path>) -> Result<Duration, String> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(path) = stdin {
        cmd.stdin(std::fs::File::open(path).map_err(|e| e.to_string())?);
    }
    let started = Instant::now();
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(elapsed)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Peak resident memory of the children waited for so far, in KiB.
fn children_peak_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) == 0 {
            usage.ru_maxrss
        } else {
            -1
        }
    }
}

struct Server {
    name: &'static str,
    protocol: &'static str,
    /// Run helios-matrix through this driver (`--driver`), against the same driver's loop.
    driver: Option<&'static str>,
    client: fn(&Path) -> (Command, Option<PathBuf>),
}

/// The Python drivers' venv (`just drivers`).
const DRIVERS_PYTHON: &str = ".venv-drivers/bin/python";

fn python_loop(driver: &str, target: &str, sql: &Path) -> Command {
    let mut cmd = Command::new(DRIVERS_PYTHON);
    cmd.args(["-m", "helios_driver_host.bench", driver, target])
        .arg(sql);
    cmd
}

fn psycopg2_loop(sql: &Path) -> (Command, Option<PathBuf>) {
    let target = "postgres://test:test@127.0.0.1:5432/helios?sslmode=require";
    (python_loop("psycopg2", target, sql), None)
}

fn pymysql_loop(sql: &Path) -> (Command, Option<PathBuf>) {
    let target = "mysql://test:test@127.0.0.1:3306/helios?ssl-mode=required";
    (python_loop("pymysql", target, sql), None)
}

fn psql(sql: &Path) -> (Command, Option<PathBuf>) {
    let mut cmd = Command::new("psql");
    cmd.env("PGPASSWORD", "test")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f"])
        .arg(sql)
        .arg("host=127.0.0.1 port=5432 dbname=helios user=test sslmode=require");
    (cmd, None)
}

fn mariadb(sql: &Path) -> (Command, Option<PathBuf>) {
    let mut cmd = Command::new("mariadb");
    cmd.env("MYSQL_PWD", "test").args([
        "--no-defaults",
        "-h127.0.0.1",
        "-P3306",
        "-utest",
        "--ssl",
        "helios",
    ]);
    (cmd, Some(sql.to_path_buf()))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it,
    // and a test run must not start a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("gold benchmark: run it with `just bench` (cargo bench --bench gold)");
        return;
    }
    let rounds = env_number("BENCH_ROUNDS", 5).max(1);
    let (inserts, selects) = (
        env_number("BENCH_INSERTS", 5000),
        env_number("BENCH_SELECTS", 2000),
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/release/helios-matrix");
    if !binary.is_file() {
        eprintln!("build the release binary first: cargo build --release");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (sql, spec) = workload(inserts, selects);
    let sql_path = dir.path().join("workload.sql");
    std::fs::write(&sql_path, sql).expect("write sql");
    std::fs::copy(
        root.join("specs/matrix.yaml"),
        dir.path().join("matrix.yaml"),
    )
    .expect("registry");
    std::fs::write(dir.path().join("bench.yaml"), spec).expect("write spec");

    let helios = |protocol: &str, driver: Option<&str>| {
        let mut cmd = Command::new(&binary);
        cmd.args(["run", "--no-progress", "--protocol", protocol, "--specs"])
            .arg(dir.path());
        if let Some(d) = driver {
            cmd.args(["--driver", d]);
        }
        cmd
    };

    // Peak memory first, from helios-matrix runs alone (getrusage reports the largest child).
    for protocol in ["postgresql", "mysql"] {
        if let Err(e) = timed(helios(protocol, None), None) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let peak_kib = children_peak_kib();

    let mut servers = vec![
        Server {
            name: "PostgreSQL",
            protocol: "postgresql",
            driver: None,
            client: psql,
        },
        Server {
            name: "MariaDB",
            protocol: "mysql",
            driver: None,
            client: mariadb,
        },
    ];
    if root.join(DRIVERS_PYTHON).is_file() {
        servers.push(Server {
            name: "psycopg2",
            protocol: "postgresql",
            driver: Some("psycopg2"),
            client: psycopg2_loop,
        });
        servers.push(Server {
            name: "PyMySQL",
            protocol: "mysql",
            driver: Some("pymysql"),
            client: pymysql_loop,
        });
    } else {
        println!("driver rows skipped: {DRIVERS_PYTHON} is missing (just drivers)");
    }
    println!(
        "workload: {inserts} INSERTs (one transaction) + {selects} point SELECTs with expected rows, {rounds} rounds, alternating"
    );
    println!(
        "{:<11} {:>16} {:>16} {:>8}",
        "client", "helios-matrix", "baseline", "ratio"
    );
    for server in &servers {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let (client, stdin) = (server.client)(&sql_path);
            // Alternate which goes first, so drift in the machine's load hits both sides.
            let order: [bool; 2] = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for ours_now in order {
                let result = if ours_now {
                    timed(helios(server.protocol, server.driver), None)
                } else {
                    timed((server.client)(&sql_path).0, stdin.as_deref())
                };
                match result {
                    Ok(d) if ours_now => ours.push(d),
                    Ok(d) => theirs.push(d),
                    Err(e) => {
                        eprintln!("{e}");
                        std::process::exit(1);
                    }
                }
            }
            drop(client);
        }
        let (a, b) = (median(ours), median(theirs));
        println!(
            "{:<11} {:>14.3} s {:>14.3} s {:>8.3}",
            server.name,
            a.as_secs_f64(),
            b.as_secs_f64(),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    println!(
        "helios-matrix peak memory: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
}
