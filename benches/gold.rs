//! `just bench`: every figure against a baseline measured in the same run, on the same
//! machine, against the same servers (`just services`, `just drivers`).
//!
//! - **Bulk**: 5,000 INSERTs then 2,000 point SELECTs with their expected rows, once in one
//!   transaction and once with autocommit (each INSERT its own transaction, as users run),
//!   through `helios-matrix run` and through each server's own client (`psql -f`,
//!   `mariadb <`). Rounds alternate; the ratio is helios-matrix ÷ baseline (median wall
//!   time).
//! - **Driver rows** (the transaction workload): `helios-matrix run --driver psycopg2` /
//!   `--driver pymysql`, whose driver host (drivers/python) runs each request on the thread
//!   that reads it, with `cancel` on a channel of its own, the case's statements pipelined
//!   (written up to 64 ahead, answers written together while more requests wait: driver
//!   host protocol 3), against
//!   `python -m helios_driver_host.bench`: the same statements through the same driver in a
//!   plain loop (one cursor, every SELECT's rows fetched), with no host in between. Both
//!   sides start an interpreter, import the driver and connect inside the measured time;
//!   helios-matrix also reads the workload's spec and checks every row. Each driver row
//!   also gives what a request costs over the loop: the difference of the two medians
//!   divided by the requests (one a statement, BEGIN and COMMIT included). The ratio moves
//!   with how fast the server answers (a slower server hides more of the same cost); that
//!   figure does not.
//! - **Bulk on Derby**: the same workload (without TLS, which Derby's network server does
//!   not speak here) through `helios-matrix run --protocol db2` (its own DRDA client)
//!   against Derby's `ij` over Derby's JDBC network client, both in one transaction and
//!   with autocommit; `ij`'s figure includes starting its JVM.
//! - **Suites**: the shipped PostgreSQL and MySQL suites (many small cases) with TLS ÷
//!   without TLS, and each protocol's suites with `--jobs N` (N = cores) ÷ `--jobs 1`.
//! - **Compile**: 10,000 cases × every protocol, generated from the core suites (never
//!   committed), compiled from scratch: wall time and peak memory against the budget.
//!
//! - **Import**: a sqllogictest file the size of the SQLite corpus's `select1.test` (1,000+
//!   records: the committed excerpt's table and rows, its queries repeated; or the real
//!   file, named by BENCH_SELECT1) imported and run on SQLite, against the 2 s budget.
//!
//! Environment: BENCH_ROUNDS (default 5), BENCH_INSERTS (5000), BENCH_SELECTS (2000),
//! BENCH_CASES (10000); BENCH_ONLY, a comma-separated list of the sections to run (`bulk`,
//! `drivers`, `derby`, `suites`, `compile`, `import`; all by default).

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
fn workload(inserts: usize, selects: usize, transaction: bool) -> (String, String) {
    let mut sql = String::from(
        "DROP TABLE IF EXISTS bench_rows;\nCREATE TABLE bench_rows (id BIGINT PRIMARY KEY, name VARCHAR(40), value BIGINT);\n",
    );
    let mut spec = String::from(
        "suite: bench\nprotocols: [postgresql, mysql]\ncases:\n  - id: BENCH-001\n    name: 5000 inserts and 2000 point selects\n    steps:\n      - statement: DROP TABLE IF EXISTS bench_rows\n      - statement: CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, name VARCHAR(40), value BIGINT)\n",
    );
    if transaction {
        sql.push_str("BEGIN;\n");
        spec.push_str("      - begin\n");
    }
    for i in 0..inserts {
        let stmt = format!(
            "INSERT INTO bench_rows (id, name, value) VALUES ({i}, 'row{i}', {})",
            i * 7
        );
        let _ = writeln!(sql, "{stmt};");
        let _ = writeln!(spec, "      - statement: {stmt}");
    }
    if transaction {
        sql.push_str("COMMIT;\n");
        spec.push_str("      - commit\n");
    }
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
fn timed(cmd: Command, stdin: Option<&Path>) -> Result<Duration, String> {
    measured(cmd, stdin, &[0]).map(|(wall, _)| wall)
}

/// Runs a command to completion, accepting the exit codes in `ok`: its wall time and its
/// own peak resident memory in KiB (from wait4, for this child alone).
fn measured(mut cmd: Command, stdin: Option<&Path>, ok: &[i32]) -> Result<(Duration, i64), String> {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(path) = stdin {
        cmd.stdin(std::fs::File::open(path).map_err(|e| e.to_string())?);
    }
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: wait4 writes only into `status` and `usage`; `child` is ours and unwaited.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    std::mem::forget(child); // reaped by wait4 above
    if waited != pid {
        return Err(format!("{cmd:?}: wait4 failed"));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    if !ok.contains(&code) {
        return Err(format!("{cmd:?} exited with {code}"));
    }
    Ok((elapsed, usage.ru_maxrss))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/release/helios-matrix");
    if !binary.is_file() {
        eprintln!("build the release binary first: cargo build --release");
        std::process::exit(2);
    }
    let rounds = env_number("BENCH_ROUNDS", 5).max(1);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s.trim() == section);
    let mut result = Ok(());
    if wanted("bulk") || wanted("drivers") {
        result = bulk(&root, &binary, rounds, wanted("bulk"), wanted("drivers"));
    }
    let sections: [(&str, &Section); 4] = [
        ("derby", &|| derby_bulk(&binary, rounds)),
        ("suites", &|| suites(&root, &binary, rounds)),
        ("compile", &|| compile_at_scale(&root, &binary, rounds)),
        ("import", &|| sqllogictest_import(&root, &binary, rounds)),
    ];
    for (name, section) in sections {
        if result.is_ok() && wanted(name) {
            result = section();
        }
    }
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

/// One section of the benchmark, run when BENCH_ONLY names it (or names none).
type Section<'a> = dyn Fn() -> Result<(), String> + 'a;

/// Median of `rounds` alternating runs of two commands: (first's, second's).
fn alternate(
    rounds: usize,
    mut first: impl FnMut() -> Result<Duration, String>,
    mut second: impl FnMut() -> Result<Duration, String>,
) -> Result<(Duration, Duration), String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so drift in the machine's load hits both sides.
        if round % 2 == 0 {
            a.push(first()?);
            b.push(second()?);
        } else {
            b.push(second()?);
            a.push(first()?);
        }
    }
    Ok((median(a), median(b)))
}

fn row(name: &str, ours: Duration, baseline: Duration, baseline_name: &str) {
    println!(
        "{name:<34} {:>9.3} s {:>9.3} s {:>7.2}  ({baseline_name})",
        ours.as_secs_f64(),
        baseline.as_secs_f64(),
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn header(title: &str) {
    println!("\n{title}");
    println!(
        "{:<34} {:>11} {:>11} {:>7}",
        "", "measured", "baseline", "ratio"
    );
}

/// The bulk workload through each server's client (`clients`) and through the Python
/// drivers against their plain loops (`drivers`).
fn bulk(
    root: &Path,
    binary: &Path,
    rounds: usize,
    clients: bool,
    drivers: bool,
) -> Result<(), String> {
    let (inserts, selects) = (
        env_number("BENCH_INSERTS", 5000),
        env_number("BENCH_SELECTS", 2000),
    );
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
    if !clients {
        servers.clear();
    }
    let installed = root.join(DRIVERS_PYTHON).is_file();
    if drivers && installed {
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
    } else if drivers {
        println!("driver rows skipped: {DRIVERS_PYTHON} is missing (just drivers)");
    }
    let mut peak_kib = 0;
    for transaction in [true, false] {
        // The driver rows run the transaction workload only.
        if !clients && !transaction {
            continue;
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (sql, spec) = workload(inserts, selects, transaction);
        let sql_path = dir.path().join("workload.sql");
        std::fs::write(&sql_path, sql).map_err(|e| e.to_string())?;
        std::fs::copy(
            root.join("specs/matrix.yaml"),
            dir.path().join("matrix.yaml"),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("bench.yaml"), spec).map_err(|e| e.to_string())?;
        let helios = |protocol: &str, driver: Option<&str>| {
            let mut cmd = Command::new(binary);
            cmd.args(["run", "--no-progress", "--protocol", protocol, "--specs"])
                .arg(dir.path());
            if let Some(d) = driver {
                cmd.args(["--driver", d]);
            }
            cmd
        };
        header(&format!(
            "Bulk: {inserts} INSERTs {} + {selects} point SELECTs with expected rows, TLS, {rounds} rounds",
            if transaction {
                "in one transaction"
            } else {
                "with autocommit"
            }
        ));
        for server in &servers {
            // The drivers' cost is per statement either way: one workload shows it.
            if server.driver.is_some() && !transaction {
                continue;
            }
            let (ours, theirs) = alternate(
                rounds,
                || {
                    let (wall, peak) =
                        measured(helios(server.protocol, server.driver), None, &[0])?;
                    peak_kib = peak_kib.max(peak);
                    Ok(wall)
                },
                || {
                    let (cmd, stdin) = (server.client)(&sql_path);
                    timed(cmd, stdin.as_deref())
                },
            )?;
            let baseline = match server.driver {
                Some(_) => {
                    // One request per statement, BEGIN and COMMIT included: the workload's
                    // lines (DROP, CREATE, BEGIN, the INSERTs, COMMIT, the SELECTs, DROP).
                    let requests = (inserts + selects + 5) as f64;
                    let extra = (ours.as_secs_f64() - theirs.as_secs_f64()) / requests;
                    format!(
                        "the same driver in a plain loop; {:+.0} µs a request",
                        extra * 1e6
                    )
                }
                None if server.protocol == "postgresql" => "psql -f".to_string(),
                None => "mariadb <".to_string(),
            };
            row(server.name, ours, theirs, &baseline);
        }
    }
    if drivers && installed {
        println!(
            "driver rows: `run --driver D` (its host pipelines the case's requests, protocol 3) against `python -m helios_driver_host.bench D` (the same statements through the same driver in a plain loop); both start an interpreter, import the driver and connect inside the time"
        );
    }
    println!(
        "helios-matrix peak memory (bulk): {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    Ok(())
}

/// The bulk workload in Derby's dialect: an `ij` script and the same steps as a spec.
fn derby_workload(inserts: usize, selects: usize, transaction: bool) -> (String, String) {
    let create = "CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, name VARCHAR(40), value BIGINT)";
    let mut ij = format!(
        "connect '{DERBY_JDBC}';\n{}{create};\n",
        if transaction { "autocommit off;\n" } else { "" }
    );
    let mut spec = format!(
        "suite: bench\nprotocols: [db2]\ncases:\n  - id: BENCH-DB2\n    name: inserts and point selects\n    steps:\n      - statement: {create}\n"
    );
    if transaction {
        spec.push_str("      - begin\n");
    }
    for i in 0..inserts {
        let stmt = format!(
            "INSERT INTO bench_rows (id, name, value) VALUES ({i}, 'row{i}', {})",
            i * 7
        );
        let _ = writeln!(ij, "{stmt};");
        let _ = writeln!(spec, "      - statement: {stmt}");
    }
    if transaction {
        ij.push_str("commit;\n");
        spec.push_str("      - commit\n");
    }
    for k in 0..selects {
        let i = (k * 7919) % inserts.max(1);
        let stmt = format!("SELECT name, value FROM bench_rows WHERE id = {i}");
        let _ = writeln!(ij, "{stmt};");
        let _ = writeln!(
            spec,
            "      - query: {stmt}\n        rows: [[row{i}, {}]]",
            i * 7
        );
    }
    ij.push_str("DROP TABLE bench_rows;\n");
    if transaction {
        ij.push_str("commit;\n");
    }
    ij.push_str("exit;\n");
    spec.push_str("      - statement: DROP TABLE bench_rows\n");
    (ij, spec)
}

/// Derby's network server of `just services`, for `ij`.
const DERBY_JDBC: &str = "jdbc:derby://127.0.0.1:1527/helios;create=true;user=test;password=test";

/// helios-matrix's DRDA client against Derby's own client (`ij`), on the bulk workload.
fn derby_bulk(binary: &Path, rounds: usize) -> Result<(), String> {
    let (inserts, selects) = (
        env_number("BENCH_INSERTS", 5000),
        env_number("BENCH_SELECTS", 2000),
    );
    if !Path::new("/usr/share/java/derbytools.jar").is_file() {
        println!("\nDerby rows skipped: Derby is not installed (just services)");
        return Ok(());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for transaction in [true, false] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (ij, spec) = derby_workload(inserts, selects, transaction);
        let ij_path = dir.path().join("workload.sql");
        std::fs::write(&ij_path, ij).map_err(|e| e.to_string())?;
        std::fs::copy(
            root.join("specs/matrix.yaml"),
            dir.path().join("matrix.yaml"),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("bench.yaml"), spec).map_err(|e| e.to_string())?;
        header(&format!(
            "Bulk on Derby (DRDA): {inserts} INSERTs {} + {selects} point SELECTs, {rounds} rounds",
            if transaction {
                "in one transaction"
            } else {
                "with autocommit"
            }
        ));
        let (ours, theirs) = alternate(
            rounds,
            || {
                let mut cmd = Command::new(binary);
                cmd.args(["run", "--no-progress", "--protocol", "db2", "--specs"])
                    .arg(dir.path());
                timed(cmd, None)
            },
            || {
                let mut cmd = Command::new("java");
                cmd.args([
                    "-cp",
                    "/usr/share/java/derbytools.jar:/usr/share/java/derbyclient.jar",
                    "org.apache.derby.tools.ij",
                ])
                .arg(&ij_path);
                timed(cmd, None)
            },
        )?;
        row("Derby", ours, theirs, "ij over derbyclient");
    }
    Ok(())
}

/// The shipped suites: TLS against no TLS, and N workers against one.
fn suites(root: &Path, binary: &Path, rounds: usize) -> Result<(), String> {
    // `jobs` None: the default number of workers.
    let run = |protocol: &str, target: Option<&str>, jobs: Option<usize>| {
        let mut cmd = Command::new(binary);
        cmd.current_dir(root)
            .args(["run", "--no-progress", "--protocol", protocol]);
        if let Some(n) = jobs {
            cmd.args(["--jobs", &n.to_string()]);
        }
        if let Some(t) = target {
            cmd.args(["--target", &format!("{protocol}={t}")]);
        }
        // Without TLS the cases that check TLS fail (exit 1); the time is what counts.
        move || measured(cmd_clone(&cmd), None, &[0, 1]).map(|(wall, _)| wall)
    };
    header(&format!(
        "Suites: the shipped suites, many small cases, --jobs 1, {rounds} rounds (TLS ÷ no TLS)"
    ));
    for (name, protocol, plain) in [
        (
            "PostgreSQL suites with TLS",
            "postgresql",
            "postgres://test:test@127.0.0.1:5432/helios?sslmode=disable",
        ),
        (
            "MySQL suites with TLS",
            "mysql",
            "mysql://test:test@127.0.0.1:3306/helios?ssl-mode=disabled",
        ),
    ] {
        let (tls, without) = alternate(
            rounds,
            run(protocol, None, Some(1)),
            run(protocol, Some(plain), Some(1)),
        )?;
        row(name, tls, without, "the same without TLS");
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    header(&format!(
        "Workers: the shipped suites, the default --jobs ({}) ÷ --jobs 1 (below 0.625 is 1.6x faster), {rounds} rounds",
        cores + 1
    ));
    for protocol in ["postgresql", "mysql", "sqlite", "databricks"] {
        let (many, one) = alternate(
            rounds,
            run(protocol, None, None),
            run(protocol, None, Some(1)),
        )?;
        row(
            &format!("{protocol}, default --jobs"),
            many,
            one,
            "--jobs 1",
        );
    }
    Ok(())
}

/// A command's copy (Command is not Clone): program, arguments, directory.
fn cmd_clone(cmd: &Command) -> Command {
    let mut copy = Command::new(cmd.get_program());
    copy.args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        copy.current_dir(dir);
    }
    copy
}

/// 10,000 cases × every protocol, compiled from scratch: into memory-backed files against
/// the budget (1 s, 200 MiB), and onto disk against copying the same output there (`cp -r`:
/// writing ~9,000 files is itself slow on some disks).
fn compile_at_scale(root: &Path, binary: &Path, rounds: usize) -> Result<(), String> {
    let wanted = env_number("BENCH_CASES", 10_000);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let specs = dir.path().join("specs");
    let cases = scaled_specs(root, &specs, wanted)?;
    let shm = Path::new("/dev/shm");
    let memory = if shm.is_dir() {
        tempfile::tempdir_in(shm).map_err(|e| e.to_string())?
    } else {
        tempfile::tempdir().map_err(|e| e.to_string())?
    };
    let compile = |out: PathBuf| {
        let mut cmd = Command::new(binary);
        cmd.arg("compile").arg(&specs).arg("-o").arg(out);
        cmd
    };
    let (mut walls, mut peak) = (Vec::new(), 0);
    for round in 0..rounds {
        let (wall, kib) = measured(
            compile(memory.path().join(format!("out{round}"))),
            None,
            &[0],
        )?;
        walls.push(wall);
        peak = peak.max(kib);
    }
    let protocols = std::fs::read_to_string(root.join("specs/matrix.yaml"))
        .map(|t| t.lines().filter(|l| l.contains("executor:")).count())
        .unwrap_or(0);
    header(&format!(
        "Compile: {cases} cases × {protocols} protocols from scratch, {rounds} rounds"
    ));
    row(
        &format!("compile into {}", memory.path().display()),
        median(walls),
        Duration::from_secs(1),
        "the budget: 1 s",
    );
    println!(
        "{:<34} {:>7.1} MiB {:>7.1} MiB {:>7.2}  (the budget: 200 MiB)",
        "compile, peak memory",
        peak as f64 / 1024.0,
        200.0,
        peak as f64 / 1024.0 / 200.0
    );
    let disk = dir.path();
    let (mut n, mut m) = (0, 0);
    let (ours, copy) = alternate(
        rounds,
        || {
            n += 1;
            measured(compile(disk.join(format!("compiled{n}"))), None, &[0]).map(|(w, _)| w)
        },
        || {
            m += 1;
            let mut cp = Command::new("cp");
            cp.arg("-r")
                .arg(memory.path().join("out0"))
                .arg(disk.join(format!("copied{m}")));
            timed(cp, None)
        },
    )?;
    row(
        &format!("compile into {}", disk.display()),
        ours,
        copy,
        "cp -r of the same files there",
    );
    Ok(())
}

/// `import` then `run --protocol sqlite` of a select1.test-sized file, end to end.
fn sqllogictest_import(root: &Path, binary: &Path, rounds: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("select1.test");
    let (source, records) = match std::env::var_os("BENCH_SELECT1") {
        Some(real) => {
            std::fs::copy(&real, &file).map_err(|e| e.to_string())?;
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let n = text
                .lines()
                .filter(|l| l.starts_with("statement ") || l.starts_with("query "))
                .count();
            ("select1.test (BENCH_SELECT1)".to_string(), n)
        }
        None => select1_sized(root, &file)?,
    };
    let specs = dir.path().join("specs");
    std::fs::create_dir_all(&specs).map_err(|e| e.to_string())?;
    std::fs::copy(root.join("specs/matrix.yaml"), specs.join("matrix.yaml"))
        .map_err(|e| e.to_string())?;
    let mut walls = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut import = Command::new(binary);
        import
            .arg("import")
            .arg(&file)
            .arg("-o")
            .arg(specs.join("imported"));
        timed(import, None)?;
        let mut run = Command::new(binary);
        run.args(["run", "--protocol", "sqlite", "--no-progress", "--specs"])
            .arg(&specs);
        timed(run, None)?;
        walls.push(start.elapsed());
    }
    header(&format!(
        "Import: {source}, {records} records, import + run on sqlite, {rounds} rounds"
    ));
    row(
        "import + run",
        median(walls),
        Duration::from_secs(2),
        "the budget: 2 s",
    );
    Ok(())
}

/// The committed select1.test excerpt's table and rows, then its queries repeated until
/// the file has as many records as the corpus's select1.test.
fn select1_sized(root: &Path, file: &Path) -> Result<(String, usize), String> {
    let excerpt = root.join("tests/fixtures/sqllogictest/sqlite/select1.test");
    let text = std::fs::read_to_string(&excerpt).map_err(|e| e.to_string())?;
    let records: Vec<&str> = text
        .split("\n\n")
        .filter(|r| !r.trim().is_empty())
        .collect();
    let (statements, queries): (Vec<&str>, Vec<&str>) =
        records.iter().partition(|r| r.starts_with("statement"));
    let mut out = statements.join("\n\n");
    let mut n = statements.len();
    while n < 1031 && !queries.is_empty() {
        for q in &queries {
            out.push_str("\n\n");
            out.push_str(q);
            n += 1;
        }
    }
    out.push('\n');
    std::fs::write(file, out).map_err(|e| e.to_string())?;
    Ok(("select1.test excerpt, queries repeated".to_string(), n))
}

/// Copies of the core suites, ids and suite names made unique, until `wanted` cases.
fn scaled_specs(root: &Path, specs: &Path, wanted: usize) -> Result<usize, String> {
    std::fs::create_dir_all(specs).map_err(|e| e.to_string())?;
    std::fs::copy(root.join("specs/matrix.yaml"), specs.join("matrix.yaml"))
        .map_err(|e| e.to_string())?;
    let mut core: Vec<(String, String)> = std::fs::read_dir(root.join("specs/core"))
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".yaml")
                .to_string();
            std::fs::read_to_string(e.path()).ok().map(|t| (name, t))
        })
        .collect();
    core.sort();
    let mut cases = 0;
    for copy in 0.. {
        for (name, text) in &core {
            if cases >= wanted {
                return Ok(cases);
            }
            let mut out = String::with_capacity(text.len() + 1024);
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("suite: ") {
                    let _ = writeln!(out, "suite: {}_{copy}", rest.trim());
                } else if let Some(id) = line.trim_start().strip_prefix("- id: ") {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    let _ = writeln!(out, "{indent}- id: {}-{copy}", id.trim());
                    cases += 1;
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            std::fs::write(specs.join(format!("{name}_{copy}.yaml")), out)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(cases)
}
