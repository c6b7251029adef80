//! The `riffle` command: serve a broker, or check logs on disk.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use riffle::broker::Broker;
use riffle::config::{properties, BrokerConfig};
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
    /// Consumer groups of a running broker (like kafka-consumer-groups.sh).
    Groups {
        #[command(subcommand)]
        action: GroupsCommand,
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

fn groups(action: GroupsCommand, bootstrap: &str) -> Result<()> {
    let out = match action {
        GroupsCommand::List => riffle::admin::groups::list(bootstrap)?,
        GroupsCommand::Describe { group } => riffle::admin::groups::describe(bootstrap, &group)?,
    };
    print!("{out}");
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
    Ok(config)
}

async fn serve(mut config: BrokerConfig) -> Result<()> {
    let started = std::time::Instant::now();
    let listener = tokio::net::TcpListener::bind(config.listener)
        .await
        .with_context(|| format!("binding {}", config.listener))?;
    // Port 0 binds any free port; publish the one we got.
    if config.listener.port() == 0 && config.explicit("advertised.listeners").is_none() {
        config.advertised_port = listener.local_addr()?.port() as i32;
    }
    let broker = Broker::open(config).context("opening the broker")?;
    tracing::info!(
        listener = %listener.local_addr()?,
        log_dir = %broker.config.log_dir.display(),
        node_id = broker.config.node_id,
        cluster_id = %broker.cluster_id,
        topics = broker.topics.all().len(),
        startup_ms = started.elapsed().as_millis() as u64,
        "broker started"
    );
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    riffle::group::GroupCoordinator::start(&broker);
    riffle::broker::log_manager::start(&broker);
    riffle::broker::log_manager::start_cleaner(&broker);
    riffle::net::serve(listener, broker.clone(), shutdown).await;
    tracing::info!("shutting down: flushing logs");
    broker.shutdown();
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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, overrides } => load_config(config, overrides).and_then(|cfg| {
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(cfg))
        }),
        Command::Groups { action, bootstrap_server } => groups(action, &bootstrap_server),
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
