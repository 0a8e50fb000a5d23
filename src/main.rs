//! The `kat` command: serve the data directory, or import a CSV into a GeoJSON layer.

use actix_web::{web, HttpServer};
use clap::{Parser, Subcommand};
use kat::api::State;
use kat::catalog::config::Config;
use kat::catalog::Catalog;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: kat::alloc::HugePages = kat::alloc::HugePages;

#[derive(Parser)]
#[command(
    name = "kat",
    version,
    about = "Kat: documented violence in Haiti as OGC API - Features, with a web map"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KAT_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// The data directory (layers, gazetteer, boundaries).
    #[arg(long, env = "KAT_DATA", default_value = "data")]
    data: PathBuf,
    /// The config declaring the collections (default: kat.toml in the data directory).
    #[arg(long, env = "KAT_CONFIG")]
    config: Option<PathBuf>,
    /// The web map's files.
    #[arg(long = "static", env = "KAT_STATIC", default_value = "static")]
    static_dir: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, env = "KAT_WORKERS")]
    workers: Option<usize>,
    /// Do not watch the data directory for changes (SIGHUP still reloads).
    #[arg(long, env = "KAT_NO_WATCH")]
    no_watch: bool,
    /// Neither read nor write the cache of large layers (`<data>/.kat-cache`).
    #[arg(long, env = "KAT_NO_CACHE")]
    no_cache: bool,
    /// Serve the collections that have a `table` from this PostgreSQL database, follow its
    /// changes, and take edits (postgres://user:password@host:port/dbname).
    #[arg(long, env = "KAT_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// Reads need a token too (any role), as writes do.
    #[arg(long, env = "KAT_PRIVATE")]
    private: bool,
}

#[derive(clap::Args, Clone)]
struct DatabaseArg {
    /// The PostgreSQL database (postgres://user:password@host:port/dbname).
    #[arg(long, env = "KAT_DATABASE_URL", hide_env_values = true)]
    database: String,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create the schema, or bring it up to this version of Kat.
    Init {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Load the layers that kat.toml gives a table into the database.
    Import {
        #[command(flatten)]
        db: DatabaseArg,
        /// The data directory.
        #[arg(long, env = "KAT_DATA", default_value = "data")]
        data: PathBuf,
        /// The config (default: kat.toml in the data directory).
        #[arg(long, env = "KAT_CONFIG")]
        config: Option<PathBuf>,
        /// The name recorded in each imported version's history.
        #[arg(long, default_value = "kat db import")]
        actor: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, as the last line.
    Create {
        #[command(flatten)]
        db: DatabaseArg,
        /// reader (reads a --private server, writes nothing), editor (creates and corrects)
        /// or admin (also deletes and restores).
        #[arg(long, value_parser = ["reader", "editor", "admin"])]
        role: String,
        /// Who holds it: recorded with each of their edits.
        #[arg(long)]
        name: String,
    },
    /// List the tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke the tokens of a name (or one token, by its id).
    Revoke {
        #[command(flatten)]
        db: DatabaseArg,
        /// A name, or a token id from `kat token list`.
        name: String,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Serve the data directory (the default).
    Serve(ServeArgs),
    /// Build a GeoJSON layer from a CSV of incidents (Kat's or ACLED's columns) or armed-group areas.
    Import {
        /// The CSV file.
        input: PathBuf,
        /// The GeoJSON file to write.
        #[arg(long)]
        out: PathBuf,
        /// The data directory holding the gazetteer and boundaries.
        #[arg(long, env = "KAT_DATA", default_value = "data")]
        data: PathBuf,
        /// Fail (exit 1) when any row cannot be placed.
        #[arg(long)]
        strict: bool,
    },
    /// The PostgreSQL store: its schema and its data.
    #[command(subcommand)]
    Db(DbCommand),
    /// Accounts that may edit.
    #[command(subcommand)]
    Token(TokenCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Import {
            input,
            out,
            data,
            strict,
        }) => match kat::import::run(&input, &out, &data, strict) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kat import: {e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Db(c)) => run_async(db_command(c)),
        Some(Command::Token(c)) => run_async(token_command(c)),
        None => serve(cli.serve),
    }
}

/// The async runtime, or `None` after saying why it could not start.
fn runtime(mut builder: tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    builder
        .enable_all()
        .build()
        .map_err(|e| eprintln!("kat: cannot start the runtime: {e}"))
        .ok()
}

fn run_async<F: std::future::Future<Output = Result<(), CliError>>>(f: F) -> ExitCode {
    let Some(runtime) = runtime(tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn db_command(c: DbCommand) -> Result<(), CliError> {
    use kat::database::{import, schema, Database};
    match c {
        DbCommand::Init { db } => {
            let db = Database::connect(&db.database)?;
            let applied = schema::init(&db).await?;
            match applied.as_slice() {
                [] => println!("the schema is up to date (version {})", schema::latest()),
                v => println!(
                    "applied migrations {v:?}; the schema is at version {}",
                    schema::latest()
                ),
            }
            Ok(())
        }
        DbCommand::Import {
            db,
            data,
            config,
            actor,
        } => {
            let db = Database::connect(&db.database)?;
            schema::check(&db).await?;
            let config_path = Config::locate(&data, config.as_deref());
            let progress = kat::progress::Bar::new("rows");
            let done = import::import_dir(&db, &data, &config_path, &actor, &progress).await?;
            if done.is_empty() {
                println!(
                    "no collection of {} has a table: nothing to import",
                    config_path.display()
                );
            }
            for d in done {
                println!("{d}");
            }
            Ok(())
        }
    }
}

async fn token_command(c: TokenCommand) -> Result<(), CliError> {
    use kat::database::{tokens, Database};
    match c {
        TokenCommand::Create { db, role, name } => {
            let db = Database::connect(&db.database)?;
            let role = tokens::Role::parse(&role).ok_or(CliError::Role(role))?;
            let token = tokens::create(&db, &name, role).await?;
            eprintln!(
                "token for {name} (role {}); it is shown only now:",
                role.as_str()
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { db } => {
            let db = Database::connect(&db.database)?;
            let all = tokens::list(&db).await?;
            println!("id\tname\trole\tcreated\trevoked");
            for t in all {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    t.created_at,
                    t.revoked_at.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { db, name } => {
            let db = Database::connect(&db.database)?;
            let n = tokens::revoke(&db, &name).await?;
            if n == 0 {
                return Err(CliError::NoSuchToken(name));
            }
            println!("revoked {n} token(s) of {name}");
            Ok(())
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let started = Instant::now();
    exit_when_stdin_closes();
    if args.no_cache {
        kat::layer::cache::disable();
    }
    if args.private && args.database.is_none() {
        eprintln!("kat: --private needs --database: the accounts are kept there");
        return ExitCode::FAILURE;
    }
    let config_path = Config::locate(&args.data, args.config.as_deref());
    let Some(runtime) = runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    let opened = match &args.database {
        None => Catalog::open(args.data.clone(), config_path).map_err(CliError::from),
        Some(url) => runtime
            .block_on(open_tables(url, &config_path))
            .and_then(|tables| {
                Catalog::open_with_tables(args.data.clone(), config_path, Arc::new(tables))
                    .map_err(CliError::from)
            }),
    };
    let catalog = match opened {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kat: cannot serve {}: {e}", args.data.display());
            return ExitCode::FAILURE;
        }
    };
    let snapshot = catalog.snapshot();
    for layer in &snapshot.layers {
        tracing::info!(
            layer = layer.id(),
            features = layer.len(),
            load_ms = layer.load_ms as u64,
            "serving layer"
        );
    }
    tracing::info!(ms = started.elapsed().as_millis() as u64, version = %snapshot.version, "data loaded");
    drop(snapshot);
    let mut state = State::new(catalog, args.static_dir.clone());
    state.private = args.private;
    let state = web::Data::new(state);
    let result = runtime.block_on(run_server(args, state));
    kat::layer::cache::abandon_unfinished();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the database's tables for the collections the config gives one.
async fn open_tables(
    url: &str,
    config_path: &std::path::Path,
) -> Result<kat::catalog::tables::Tables, CliError> {
    let config = Config::load(config_path)?;
    let db = kat::database::Database::connect(url)?;
    Ok(kat::catalog::tables::Tables::open(db, &config.collections).await?)
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Db(#[from] kat::database::DbError),
    #[error(transparent)]
    Token(#[from] kat::database::tokens::TokenError),
    #[error(transparent)]
    Config(#[from] kat::catalog::config::ConfigError),
    #[error(transparent)]
    Snapshot(#[from] kat::catalog::SnapshotError),
    #[error("--role is reader, editor or admin, not {0:?}")]
    Role(String),
    #[error("no live token of {0:?}")]
    NoSuchToken(String),
}

async fn run_server(args: ServeArgs, state: web::Data<State>) -> std::io::Result<()> {
    let shared: Arc<State> = state.clone().into_inner();
    spawn_reload_on_sighup(Arc::clone(&shared));
    if let Some(tables) = shared.catalog.tables.clone() {
        let on_change = Arc::clone(&shared);
        tokio::spawn(tables.follow(move || {
            let _ = on_change.refresh_tables();
        }));
    }
    let _watcher = if args.no_watch {
        None
    } else {
        let on_change = Arc::clone(&shared);
        kat::catalog::watch::watch(
            &shared.catalog.data_dir,
            &shared.catalog.config_path,
            move || {
                let _ = on_change.reload();
            },
        )
        .map_err(
            |e| tracing::warn!(error = %e, "not watching the data directory; SIGHUP still reloads"),
        )
        .ok()
    };
    let mut server = HttpServer::new(move || kat::api::app(state.clone()))
        // A compressed answer goes out in several writes (headers, chunks, the last chunk):
        // with Nagle's algorithm on, the last waits for the client's delayed ACK, 40 ms.
        .tcp_nodelay(true)
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(30))
        .shutdown_timeout(10)
        .backlog(4096);
    if let Some(w) = args.workers {
        server = server.workers(w.max(1));
    }
    let server = server.bind(&args.bind).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.bind))
    })?;
    tracing::info!(bind = %args.bind, "listening on http://{}", args.bind);
    server.run().await
}

/// Under a supervisor that holds our stdin (`KAT_EXIT_ON_STDIN_EOF=1`), exit when it goes
/// away, so that a crashed supervisor never leaves a server behind.
fn exit_when_stdin_closes() {
    if std::env::var("KAT_EXIT_ON_STDIN_EOF").as_deref() != Ok("1") {
        return;
    }
    std::thread::spawn(|| {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        tracing::info!("stdin closed: exiting");
        kat::layer::cache::abandon_unfinished();
        std::process::exit(0);
    });
}

fn spawn_reload_on_sighup(state: Arc<State>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the data");
            let state = Arc::clone(&state);
            let _ = tokio::task::spawn_blocking(move || state.reload()).await;
        }
    });
}
