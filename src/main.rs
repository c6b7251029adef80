//! The `riffle` command: serve a broker, or check logs on disk.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use riffle::common::SystemClock;
use riffle::config::{properties, BrokerConfig};
use riffle::server::Server;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(name = "riffle", version, about = "A Kafka-wire-protocol compatible event streaming broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a broker.
    Serve {
        /// A server.properties-style file (Kafka property names).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Override one property, e.g. --override log.dirs=/tmp/riffle (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Prepare a log directory before the first start, as kafka-storage format does:
    /// --add-scram users exist from the start (every node of a cluster gets the same).
    Format {
        /// A server.properties-style file (its log.dirs is formatted).
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// A SCRAM user, e.g. 'SCRAM-SHA-512=[name=admin,password=admin-secret]' (repeatable).
        #[arg(long = "add-scram", value_name = "MECHANISM=[name=...,password=...]")]
        add_scram: Vec<String>,
    },
    /// Start a local cluster of brokers (each a broker and a controller), as child
    /// processes; Ctrl-C stops them all.
    Cluster {
        /// Number of brokers.
        #[arg(long, default_value_t = 3)]
        brokers: u16,
        /// Client port of the first broker; the others take the next ports.
        #[arg(long, default_value_t = 9092)]
        base_port: u16,
        /// Controller port of the first broker (default: base port + 10000).
        #[arg(long)]
        controller_base_port: Option<u16>,
        /// Data directory; broker N keeps its logs in <dir>/N.
        #[arg(long, default_value = "./data/cluster")]
        data_dir: PathBuf,
        /// Overrides for every broker, e.g. --override default.replication.factor=3.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Consumer groups of a running broker (like kafka-consumer-groups.sh).
    Groups {
        #[command(subcommand)]
        action: GroupsCommand,
        #[arg(long = "bootstrap-server", default_value = "127.0.0.1:9092", global = true)]
        bootstrap_server: String,
    },
    /// SCRAM users of a running broker (like kafka-configs.sh --entity-type users).
    Users {
        #[command(subcommand)]
        action: UsersCommand,
        #[arg(long = "bootstrap-server", default_value = "127.0.0.1:9092", global = true)]
        bootstrap_server: String,
    },
    /// Scan every partition log under a log directory, batch by batch with CRCs; exits
    /// non-zero if anything is corrupt.
    VerifyLogs {
        #[arg(long = "log-dirs", default_value = "./data")]
        log_dirs: PathBuf,
    },
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// List groups with their state.
    List,
    /// Per partition: committed offset, log end offset, lag and owning member.
    Describe { group: String },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Users with their SCRAM mechanisms and iteration counts.
    List,
    /// Create or replace a user's SCRAM credential.
    Set {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// Remove a user's SCRAM credential for one mechanism.
    Delete {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
    },
}

fn users(action: UsersCommand, bootstrap: &str) -> Result<()> {
    let out = match action {
        UsersCommand::List => riffle::admin::users::list(bootstrap)?,
        UsersCommand::Set { user, mechanism, password, iterations } => riffle::admin::users::set(bootstrap, &user, &mechanism, &password, iterations)?,
        UsersCommand::Delete { user, mechanism } => riffle::admin::users::delete(bootstrap, &user, &mechanism)?,
    };
    print!("{out}");
    Ok(())
}

fn groups(action: GroupsCommand, bootstrap: &str) -> Result<()> {
    let out = match action {
        GroupsCommand::List => riffle::admin::groups::list(bootstrap)?,
        GroupsCommand::Describe { group } => riffle::admin::groups::describe(bootstrap, &group)?,
    };
    print!("{out}");
    Ok(())
}

fn format(config: &BrokerConfig, add_scram: &[String]) -> Result<()> {
    let records = add_scram.iter().map(|s| riffle::security::bootstrap::parse_add_scram(s).map_err(anyhow::Error::msg).context("--add-scram")).collect::<Result<Vec<_>>>()?;
    let dir = &config.log_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    riffle::security::bootstrap::write(&riffle::storage::local(), dir, &records).with_context(|| format!("writing {}", dir.join(riffle::security::bootstrap::FILE).display()))?;
    println!("Formatted {} ({} bootstrap SCRAM user record(s))", dir.display(), records.len());
    Ok(())
}

fn load_config(file: Option<PathBuf>, overrides: Vec<String>) -> Result<BrokerConfig> {
    let mut map = BTreeMap::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        map = properties::parse(&text).map_err(anyhow::Error::msg).with_context(|| format!("parsing {}", path.display()))?;
    }
    for o in overrides {
        let Some((k, v)) = properties::split_entry(&o) else { bail!("--override expects KEY=VALUE, got '{o}'") };
        map.insert(k, v);
    }
    let (config, unknown) = BrokerConfig::from_map(map)?;
    for key in unknown {
        tracing::warn!(%key, "the configuration was supplied but isn't a known config");
    }
    let accepted = config.accepted_only();
    if !accepted.is_empty() {
        tracing::info!(keys = %accepted.join(","), "Kafka broker configurations accepted (and reported by DescribeConfigs) but not acted on by Riffle");
    }
    Ok(config)
}

async fn serve(config: BrokerConfig) -> Result<()> {
    let started = std::time::Instant::now();
    // Signals are ours from the start: SIGTERM while the broker is still starting (loading
    // logs, waiting for its controller) stops it cleanly instead of killing it.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let server = tokio::select! {
        // a start that completes wins over a signal that came meanwhile: that signal is
        // then served by run_until, as a clean shutdown
        biased;
        server = Server::start(config, riffle::storage::local(), SystemClock::shared()) => server.context("starting the broker")?,
        _ = term.recv() => return stopped_while_starting(),
        _ = int.recv() => return stopped_while_starting(),
    };
    let s = server.services();
    let addrs = server.local_addrs();
    let first = addrs.first().map(|a| a.to_string()).unwrap_or_else(|| "none".into());
    tracing::info!(
        listener = %first,
        listeners = addrs.len(),
        log_dir = %s.config.log_dir.display(),
        node_id = s.config.node_id,
        cluster_id = %s.cluster_id(),
        topics = s.topics.all().len(),
        startup_ms = started.elapsed().as_millis() as u64,
        "broker started"
    );
    server
        .run_until(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await;
    Ok(())
}

/// A stop before the broker served anything: nothing to hand over or drain; whatever the
/// start wrote is recovered by the next start, as after any stop.
fn stopped_while_starting() -> Result<()> {
    tracing::info!("stopped while starting");
    Ok(())
}

/// `riffle cluster`: one child `riffle serve` per broker, stopped together.
fn cluster(brokers: u16, base_port: u16, controller_base_port: Option<u16>, data_dir: PathBuf, overrides: Vec<String>) -> Result<()> {
    if brokers == 0 {
        bail!("--brokers must be at least 1");
    }
    let cbase = controller_base_port.unwrap_or(base_port.saturating_add(10_000));
    let voters: Vec<String> = (0..brokers).map(|i| format!("{}@127.0.0.1:{}", i + 1, cbase + i)).collect();
    let exe = std::env::current_exe().context("locating the riffle binary")?;
    let mut children = Vec::new();
    for i in 0..brokers {
        let id = i + 1;
        let dir = data_dir.join(id.to_string());
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("serve");
        for (k, v) in [
            ("node.id", id.to_string()),
            ("process.roles", "broker,controller".to_string()),
            ("listeners", format!("PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}", base_port + i, cbase + i)),
            ("controller.quorum.voters", voters.join(",")),
            ("log.dirs", dir.display().to_string()),
            ("default.replication.factor", brokers.min(3).to_string()),
            ("offsets.topic.replication.factor", brokers.min(3).to_string()),
        ] {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        for o in &overrides {
            cmd.arg("--override").arg(o);
        }
        children.push(cmd.spawn().with_context(|| format!("starting broker {id}"))?);
    }
    tracing::info!(brokers, first_port = base_port, data_dir = %data_dir.display(), "cluster started; Ctrl-C stops it");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        anyhow::Ok(())
    })?;
    for c in &children {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    }
    for mut c in children {
        let _ = c.wait();
    }
    Ok(())
}

fn verify(log_dirs: PathBuf) -> Result<bool> {
    let mut ok = true;
    let mut partitions = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&log_dirs)
        .with_context(|| format!("reading {}", log_dirs.display()))?
        .flatten()
        .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().ends_with("-delete"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let has_logs = std::fs::read_dir(e.path())?.flatten().any(|f| f.file_name().to_string_lossy().ends_with(".log"));
        if !has_logs {
            continue;
        }
        partitions += 1;
        for problem in riffle::log::verify_dir(&e.path())? {
            eprintln!("CORRUPT {problem}");
            ok = false;
        }
    }
    eprintln!("verified {partitions} partition log(s): {}", if ok { "ok" } else { "CORRUPTION FOUND" });
    Ok(ok)
}

fn main() -> ExitCode {
    let start_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let logging = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&start_level).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter_reloading();
    // Log levels change at run time through the BROKER_LOGGER config resource.
    let filter = logging.reload_handle();
    riffle::common::log_levels::install(&start_level, move |directives| {
        let f = tracing_subscriber::EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        filter.reload(f).map_err(|e| e.to_string())
    });
    logging.init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, overrides } => load_config(config, overrides).and_then(|cfg| {
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(cfg))
        }),
        Command::Format { config, overrides, add_scram } => load_config(config, overrides).and_then(|cfg| format(&cfg, &add_scram)),
        Command::Cluster { brokers, base_port, controller_base_port, data_dir, overrides } => cluster(brokers, base_port, controller_base_port, data_dir, overrides),
        Command::Groups { action, bootstrap_server } => groups(action, &bootstrap_server),
        Command::Users { action, bootstrap_server } => users(action, &bootstrap_server),
        Command::VerifyLogs { log_dirs } => verify(log_dirs).map(|ok| if ok { () } else { std::process::exit(1) }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
