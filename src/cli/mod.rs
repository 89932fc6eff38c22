//! Command line: `passerelle serve | migrate | users … | tokens … | openapi`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::accounts as users;
use crate::config::Settings;
use crate::domain::roles::Role;
use crate::startup::Application;
use crate::store::{self, Db};
use crate::telemetry;

mod audit;
use audit::audit_offline;
pub use audit::AuditCommand;

/// Passerelle: referral exchange between ANLTP/TIM (Niger) and NAPTIP (Nigeria).
#[derive(Debug, Parser)]
#[command(name = "passerelle", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables `PASSERELLE__SECTION__KEY` override it.
    #[arg(long, short, global = true, env = "PASSERELLE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node (migrations are applied at start).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent copy of the database while the node runs (SQLite:
    /// VACUUM INTO; PostgreSQL: pg_dump, custom format). Keep it apart from
    /// the node's disk. Personal data in it is sealed under the key ring
    /// (`database.key_dir`), which is not in it: back the ring up on its
    /// own. After a consent withdrawal the ring moves to a new epoch and the
    /// personal data in earlier backups can no longer be read (alert
    /// `keys_rotated`): take a new backup then.
    Backup {
        /// The backup file to write (must not exist).
        file: PathBuf,
    },
    /// Replace the database by a backup (stop the node, every replica of it,
    /// first). At its next
    /// start the node compares its chains with the other node's and holds
    /// delivery if the backup is older than what the other node holds.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Start both nodes on loopback (SQLite, dev certificates), walk one
    /// referral from Niamey to Abuja through the whole SOP over mTLS, print
    /// both timelines, and keep serving (Ctrl-C stops).
    Demo {
        /// Directory for the two databases (default: a fresh temporary directory, removed at exit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Development certificates.
        #[arg(long, default_value = "certs-dev")]
        certs: PathBuf,
        /// First of four ports: Niamey API, Abuja API, Niamey peer, Abuja peer.
        #[arg(long, default_value_t = 8080)]
        base_port: u16,
        /// Exit after the walk-through instead of serving.
        #[arg(long)]
        exit: bool,
    },
    /// Benchmark two nodes on loopback and print the figures beside their
    /// baselines (build with --release).
    Bench {
        /// Development certificates.
        #[arg(long, default_value = "certs-dev")]
        certs: PathBuf,
        /// Length of each timed phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Messages queued while the peer is down in the drain test.
        #[arg(long, default_value_t = 10_000)]
        backlog: usize,
        /// Concurrent caseworker requests at peak.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Size of the audit log on which proof generation is timed.
        #[arg(long, default_value_t = 1_000_000)]
        audit_entries: u64,
        /// Run only (e), the audit log figures.
        #[arg(long)]
        audit_only: bool,
        /// Run only (f), review at scale.
        #[arg(long)]
        scale_only: bool,
        /// Run only (a) to (c): the ceilings, end-to-end referrals with
        /// where their CPU goes, and case reads.
        #[arg(long)]
        referrals_only: bool,
        /// Run only (h): end-to-end referrals (as in (c)) through a
        /// round-robin proxy in front of one, then this many replicas of
        /// Niamey over one database (needs --backend postgres).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=8))]
        replicas: Option<u32>,
        /// Where the two nodes of (c), (d) and (f) keep their data: `sqlite`
        /// (a file each) or `postgres` (a fresh database each on the server
        /// of --pg-url, dropped afterwards).
        #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
        backend: String,
        /// With --backend postgres: a URL of the server with the right to
        /// create databases (its database part is only used to connect).
        #[arg(
            long,
            env = "PASSERELLE_BENCH_PG_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres",
            hide_env_values = true
        )]
        pg_url: String,
        /// (f): cases at Niamey at the last stage.
        #[arg(long, default_value_t = 100_000)]
        scale_cases: u64,
        /// (f): audit entries at Niamey at the last stage (the stages are 1%,
        /// 10% and all of it).
        #[arg(long, default_value_t = 1_000_000)]
        scale_entries: u64,
        /// (f): timed requests per operation and stage.
        #[arg(long, default_value_t = 30)]
        scale_samples: usize,
        /// Run only (g), the slow link.
        #[arg(long)]
        link_only: bool,
        /// (g): one-way delay of the simulated link, in milliseconds.
        #[arg(long, default_value_t = 300)]
        link_delay_ms: u64,
        /// (g): bandwidth of the simulated link in each direction, bytes/s.
        #[arg(long, default_value_t = 32_000)]
        link_bytes_per_sec: u64,
        /// (g): referrals queued while the peer is down, then drained
        /// through the link.
        #[arg(long, default_value_t = 1_000)]
        link_backlog: usize,
    },
    /// Development certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Messages to the other node (delivery status, retry).
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// The tamper-evident audit log: export, verify, reconcile.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create the DEVELOPMENT PKI: one CA per country, and a server and a
    /// client certificate per node (never use it in production).
    Init {
        /// Directory to write into (created if missing).
        #[arg(default_value = "certs-dev")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// List outgoing messages.
    List {
        /// pending, delivered, rejected or suspended.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put suspended messages back in the delivery queue (a running node
    /// picks them up within its poll interval).
    Retry {
        /// One message id; all suspended messages if omitted.
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account in this node's agency.
    Add {
        /// Login name (lower-case letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        username: String,
        /// caseworker, supervisor, liaison, jtwg_reviewer or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name.
        #[arg(long)]
        display_name: String,
    },
    /// List accounts.
    List,
    /// Disable an account: its tokens stop working at once.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Re-enable a disabled account.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Set an account's console password, read from the first line of
    /// standard input (never from the command line, where other users of
    /// the machine could read it): 12 to 128 characters, not the username.
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue a token; the secret is printed once and stored only hashed.
    Issue {
        #[arg(long)]
        username: String,
        /// What the token is for (shown in `tokens list`).
        #[arg(long, default_value = "api")]
        label: String,
        /// Lifetime in days (default: `tokens.default_ttl_days`).
        #[arg(long)]
        ttl_days: Option<u32>,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        id: String,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        username: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    Db::open_for_command(
        &settings.database_url(),
        &settings.key_dir(),
        settings.database.busy_timeout_ms,
    )
    .context("cannot open the database")
}

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Openapi => {
            print!("{}", crate::api::openapi_json());
            return Ok(());
        }
        Command::Demo {
            dir,
            certs,
            base_port,
            exit,
        } => {
            let opts = crate::demo::DemoOptions {
                dir: dir.clone(),
                certs: certs.clone(),
                base_port: *base_port,
                exit: *exit,
            };
            telemetry::init(&crate::config::LogSettings {
                filter: "warn".into(),
                ..Default::default()
            });
            return actix_web::rt::System::new().block_on(crate::demo::run(opts));
        }
        Command::Bench {
            certs,
            seconds,
            backlog,
            concurrency,
            audit_entries,
            audit_only,
            scale_only,
            referrals_only,
            replicas,
            backend,
            pg_url,
            scale_cases,
            scale_entries,
            scale_samples,
            link_only,
            link_delay_ms,
            link_bytes_per_sec,
            link_backlog,
        } => {
            let opts = crate::bench::BenchOptions {
                certs: certs.clone(),
                seconds: *seconds,
                backlog: *backlog,
                concurrency: *concurrency,
                audit_entries: *audit_entries,
                audit_only: *audit_only,
                scale_only: *scale_only,
                referrals_only: *referrals_only,
                replicas: replicas.map(|n| n as usize),
                backend: match backend.as_str() {
                    "postgres" => crate::bench::Backend::Postgres {
                        admin_url: pg_url.clone(),
                    },
                    _ => crate::bench::Backend::Sqlite,
                },
                scale: crate::bench::ScaleOptions {
                    cases: *scale_cases,
                    entries: *scale_entries,
                    samples: (*scale_samples).max(1),
                },
                link_only: *link_only,
                link: crate::bench::LinkOptions {
                    delay: std::time::Duration::from_millis(*link_delay_ms),
                    bytes_per_sec: (*link_bytes_per_sec).max(1),
                    backlog: (*link_backlog).max(1),
                },
            };
            telemetry::init(&crate::config::LogSettings {
                filter: "error".into(),
                ..Default::default()
            });
            return actix_web::rt::System::new().block_on(crate::bench::run(opts));
        }
        Command::Audit(cmd) => {
            if let Some(result) = audit_offline(cmd) {
                return result;
            }
        }
        Command::Certs(CertsCommand::Init { dir }) => {
            let files = crate::tls::pki::init_dev(dir)?;
            println!(
                "DEVELOPMENT certificates written to {} ({} files)",
                dir.display(),
                files.len()
            );
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Openapi | Command::Certs(_) | Command::Demo { .. } | Command::Bench { .. } => {
            Ok(())
        }
        Command::Audit(AuditCommand::Export { from, to, file }) => {
            audit::export(&settings, from.as_deref(), to.as_deref(), &file)
        }
        Command::Audit(_) => Ok(()),
        Command::Messages(cmd) => {
            let db = open_db(&settings)?;
            match cmd {
                MessagesCommand::List { status, limit } => {
                    for m in db.read_blocking(|c| {
                        crate::app::exchange::list_outgoing(c, status.as_deref(), None, None, limit)
                    })? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            m.seq,
                            m.id,
                            m.message_type,
                            m.status,
                            m.attempts,
                            m.last_error.unwrap_or_default()
                        );
                    }
                }
                MessagesCommand::Retry { id } => {
                    let id = id
                        .map(|i| i.parse::<crate::domain::ids::MessageId>())
                        .transpose()
                        .context("--id is not a message id")?;
                    let n = db.write_blocking(|c| crate::app::exchange::retry(c, id, now()))?;
                    println!("{n} message(s) queued again");
                }
            }
            Ok(())
        }
        Command::Serve => {
            telemetry::init(&settings.log);
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await?;
                tracing::info!("stopped");
                Ok(())
            })
        }
        Command::Backup { file } => {
            let db = open_db(&settings)?;
            db.backup_to(&settings.database_url(), &file)?;
            println!("backed up {} to {}", db.backend(), file.display());
            Ok(())
        }
        Command::Restore { file } => {
            // Refused while a node serves the database.
            let _node_lock = store::node_lock::acquire(
                &settings.database_url(),
                store::node_lock::Purpose::Alone,
            )?;
            store::backup::restore_from(&settings.database_url(), &file)?;
            let db = open_db(&settings)?; // applies newer migrations, if any
            println!(
                "restored {} from {}; at its next start the node compares its chains with the \
                 other node's before sending anything",
                db.backend(),
                file.display()
            );
            let unreadable = db.read_blocking(store::sealed::unreadable)?;
            if unreadable > 0 {
                println!(
                    "the personal data of {unreadable} referrals in this backup cannot be read: \
                     a consent withdrawal after the backup was taken destroyed the key it is \
                     sealed under (their exchange records, states and audit log are restored)"
                );
            }
            Ok(())
        }
        Command::Migrate => {
            // Db::open applies pending migrations.
            let db = open_db(&settings)?;
            db.write_blocking(|c| store::migrate(c).map(|_| ()))?;
            println!("database is up to date ({})", db.backend());
            Ok(())
        }
        Command::Users(cmd) => {
            let db = open_db(&settings)?;
            match cmd {
                UsersCommand::Add {
                    username,
                    role,
                    display_name,
                } => {
                    let agency = settings.node.agency.clone();
                    let user = db.write_blocking(|c| {
                        users::create_user(c, &username, &display_name, role, &agency, now())
                    })?;
                    println!("created {} ({}) {}", user.username, user.role, user.id);
                }
                UsersCommand::List => {
                    for u in db.read_blocking(users::list_users)? {
                        println!(
                            "{}\t{}\t{}\t{}{}",
                            u.id,
                            u.username,
                            u.role,
                            u.display_name,
                            if u.disabled { "\t(disabled)" } else { "" }
                        );
                    }
                }
                UsersCommand::Disable { username } => {
                    db.write_blocking(|c| users::set_disabled(c, &username, true))?;
                    println!("disabled {username}");
                }
                UsersCommand::Enable { username } => {
                    db.write_blocking(|c| users::set_disabled(c, &username, false))?;
                    println!("enabled {username}");
                }
                UsersCommand::SetPassword { username } => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("cannot read the password from standard input")?;
                    let password = line.trim_end_matches(['\r', '\n']).to_owned();
                    db.write_blocking(|c| {
                        crate::app::sign_in::set_password(c, &username, &password, now())
                    })?
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                    println!("password set for {username}");
                }
            }
            Ok(())
        }
        Command::Tokens(cmd) => {
            let db = open_db(&settings)?;
            match cmd {
                TokensCommand::Issue {
                    username,
                    label,
                    ttl_days,
                } => {
                    let ttl = ttl_days.unwrap_or(settings.tokens.default_ttl_days);
                    if ttl == 0 || ttl > settings.tokens.max_ttl_days {
                        anyhow::bail!(
                            "--ttl-days must be between 1 and {}",
                            settings.tokens.max_ttl_days
                        );
                    }
                    let t = db
                        .write_blocking(|c| users::issue_token(c, &username, &label, ttl, now()))?;
                    eprintln!(
                        "token {} for {username}, expires {} UTC; it is shown only once:",
                        t.id, t.expires_at
                    );
                    println!("{}", t.secret);
                }
                TokensCommand::Revoke { id } => {
                    db.write_blocking(|c| users::revoke_token(c, &id, now()))?;
                    println!("revoked {id}");
                }
                TokensCommand::List { username } => {
                    for t in db.read_blocking(|c| users::list_tokens(c, username.as_deref()))? {
                        let state = match t.revoked_at {
                            Some(at) => format!("revoked {at}"),
                            None => format!("expires {}", t.expires_at),
                        };
                        println!("{}\t{}\t{}\t{}", t.id, t.username, t.label, state);
                    }
                }
            }
            Ok(())
        }
    }
}
