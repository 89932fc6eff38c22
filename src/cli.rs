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
pub enum AuditCommand {
    /// Write a signed bundle of the log (entries, checkpoints, cosignatures,
    /// proofs, certificates) for offline verification.
    Export {
        /// Entries recorded at or after this instant (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Entries recorded before this instant (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// The bundle file to write.
        file: PathBuf,
    },
    /// Check every hash, signature and consistency proof of a bundle,
    /// without a database or network, and say how much of the log the other
    /// node cosigned ("cosigned up to N of M entries"). Exits non-zero on
    /// any failure.
    Verify {
        /// Also fail unless the other node cosigned the whole log (the last
        /// checkpoint): a tail signed only by this node may have been
        /// rewritten by whoever holds its key.
        #[arg(long)]
        require_cosigned: bool,
        /// The bundle file.
        file: PathBuf,
    },
    /// Verify two nodes' bundles and reconcile their exchange records.
    /// Exits non-zero unless every message is matched (or rejected by both).
    Reconcile {
        /// One node's bundle.
        a: PathBuf,
        /// The other node's bundle.
        b: PathBuf,
    },
}

fn parse_instant(s: &str) -> anyhow::Result<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN))
        .with_context(|| format!("`{s}` is neither RFC 3339 nor YYYY-MM-DD"))
}

fn verify_file(
    path: &std::path::Path,
    require_cosigned: bool,
) -> anyhow::Result<crate::audit::bundle::Bundle> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let mut progress = |done: u64, total: u64| {
        if total >= 100_000 {
            eprintln!("{name}: {done}/{total} entries checked");
        }
    };
    match crate::audit::bundle::verify(&text, &mut progress) {
        Ok((bundle, v)) => {
            println!(
                "OK {name}: node {}, entries [{}, {}) of {}, {} checkpoint(s), {} cosignature(s); every hash, signature and proof verifies",
                v.node, bundle.from, bundle.to, v.size, v.checkpoints, v.cosigned
            );
            let witnessed = if v.cosigned_size == v.size {
                "the whole log is witnessed by the other node".to_owned()
            } else {
                format!(
                    "entries [{}, {}) carry only this node's own signature",
                    v.cosigned_size, v.size
                )
            };
            println!(
                "{name}: cosigned up to {} of {} entries; {witnessed}",
                v.cosigned_size, v.size
            );
            if require_cosigned && v.cosigned_size < v.size {
                anyhow::bail!(
                    "{name}: the other node cosigned only {} of {} entries (--require-cosigned)",
                    v.cosigned_size,
                    v.size
                );
            }
            Ok(bundle)
        }
        Err(f) => {
            println!("FAILED {name}: {f}");
            anyhow::bail!("{name} does not verify: {f}")
        }
    }
}

fn audit_offline(cmd: &AuditCommand) -> Option<anyhow::Result<()>> {
    match cmd {
        AuditCommand::Verify {
            file,
            require_cosigned,
        } => Some(verify_file(file, *require_cosigned).map(|_| ())),
        AuditCommand::Reconcile { a, b } => Some((|| {
            let a = verify_file(a, false)?;
            let b = verify_file(b, false)?;
            let report =
                crate::audit::reconcile::reconcile(&a.node, &a.entries, &b.node, Some(&b.entries));
            for r in &report.rows {
                println!(
                    "{}\t{} → {}\t{}\tseq {}\t{}{}",
                    r.message_id,
                    r.sender,
                    r.receiver,
                    r.message_type,
                    r.seq.map_or("-".into(), |s| s.to_string()),
                    r.status,
                    r.detail
                        .as_deref()
                        .map_or(String::new(), |d| format!(" ({d})"))
                );
            }
            let summary: Vec<String> = report
                .counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let bad = report
                .rows
                .iter()
                .filter(|r| r.status != "matched" && r.status != "rejected")
                .count();
            if bad == 0 {
                println!("RECONCILED: {}", summary.join(", "));
                Ok(())
            } else {
                println!("NOT RECONCILED: {}", summary.join(", "));
                anyhow::bail!("{bad} message(s) are not matched")
            }
        })()),
        AuditCommand::Export { .. } => None,
    }
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
    Db::open_for_command(&settings.database_url(), settings.database.busy_timeout_ms)
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
        } => {
            let opts = crate::bench::BenchOptions {
                certs: certs.clone(),
                seconds: *seconds,
                backlog: *backlog,
                concurrency: *concurrency,
                audit_entries: *audit_entries,
                audit_only: *audit_only,
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
            let db = open_db(&settings)?;
            let ctx = crate::app::NodeCtx {
                node: settings.node.id,
                deadlines: settings.deadlines.clone(),
                message_key: crate::tls::load_node_key(
                    &settings.tls.client_key,
                    settings.tls.passphrase()?.as_ref(),
                )?,
                receipt_key: crate::tls::load_node_key(
                    &settings.tls.server_key,
                    settings.tls.passphrase()?.as_ref(),
                )?,
                clock: Default::default(),
            };
            let signer = std::fs::read_to_string(&settings.tls.client_cert)
                .with_context(|| format!("cannot read {}", settings.tls.client_cert.display()))?;
            let from = from.as_deref().map(parse_instant).transpose()?;
            let to = to.as_deref().map(parse_instant).transpose()?;
            let signed = db
                .write_blocking(|c| crate::app::audit::export_period(c, &ctx, from, to, &signer))?;
            let text = serde_json::to_vec(&signed)?;
            std::fs::write(&file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
            let n = signed
                .body
                .get("entries")
                .and_then(|e| e.as_array())
                .map_or(0, Vec::len);
            println!(
                "wrote {} ({n} entries, signed by {})",
                file.display(),
                settings.node.id
            );
            Ok(())
        }
        Command::Audit(_) => Ok(()),
        Command::Messages(cmd) => {
            let db = open_db(&settings)?;
            match cmd {
                MessagesCommand::List { status, limit } => {
                    for m in db.read_blocking(|c| {
                        crate::app::exchange::list_outgoing(c, status.as_deref(), None, limit)
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
