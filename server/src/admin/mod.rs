//! `locus admin ...`: operator commands run on the server machine against
//! the same SQLite file as `locus serve`, whether the server runs or not
//! (reset positions, list, create and delete accounts, revoke tokens, bot
//! tokens for load tests, live backups). Owns the command-line arguments,
//! the checks on them and the text the commands print. Talks to the
//! database only through [`crate::store::AdminStore`] and to a running
//! server only through the database (see `session::resets` and
//! `migrations/0002_admin_events.sql`). Must not start a server, open
//! sockets or touch the game world.
//!
//! Every failure is one line on stderr and exit status 1; arguments are
//! checked before the database is opened, and a refused command changes
//! nothing.

pub mod cluster;
mod commands;

pub mod coords;
pub mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::auth::AuthError;
use crate::bot_accounts::BotAccountError;
use crate::store::StoreError;

/// The stored password of bot accounts (defined in [`crate::bot_accounts`]).
pub use crate::bot_accounts::BOT_PASSWORD_PHC;

/// `locus admin`: settings shared by every admin command, and the command.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// The server's database: a SQLite file, which must exist (the server
    /// creates it), or a PostgreSQL URL
    /// (`postgres://USER:PASSWORD@HOST:PORT/DBNAME`), as given to `locus serve`.
    #[arg(long, env = "LOCUS_DB", default_value = "locus.db", global = true)]
    pub db: PathBuf,

    /// Width and height of the square world, as given to `locus serve`:
    /// coordinates must lie within it, and its centre is the spawn point.
    #[arg(long, env = "LOCUS_WORLD_SIZE", default_value_t = 4096.0, value_parser = parse_world_size, global = true)]
    pub world_size: f64,

    /// How long to wait for the server (or another command) to release the
    /// database's write lock before giving up.
    #[arg(long, env = "LOCUS_ADMIN_BUSY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub busy_timeout: Duration,

    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin commands.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Show the live nodes of a cluster and the regions each holds (read
    /// from its Redis).
    Cluster(cluster::ClusterArgs),
    /// Move one account (or every account) to the spawn point or to --to.
    /// An online player is teleported within a second.
    Reset(ResetArgs),
    /// List accounts with their last position, last seen time and whether
    /// they are online.
    Users(UsersArgs),
    /// Create an account; the password is asked for without echo, or read
    /// from standard input with --password-stdin.
    CreateUser(CreateUserArgs),
    /// Delete an account with its tokens and position; an online player is
    /// kicked.
    DeleteUser(DeleteUserArgs),
    /// Revoke every token of an account; an online player is disconnected,
    /// as on logout.
    RevokeTokens(RevokeTokensArgs),
    /// Create bot accounts (no usable password) with one token each, for
    /// load tests; prints one token per line.
    BotTokens(BotTokensArgs),
    /// Write a consistent copy of the live database to FILE (safe while the
    /// server runs).
    Backup(BackupArgs),
}

/// `locus admin reset`.
#[derive(Debug, Clone, Args)]
pub struct ResetArgs {
    /// The account to reset.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub user: Option<String>,

    /// Reset every account.
    #[arg(long)]
    pub all: bool,

    /// Where to put them, as X,Y (default: the world centre).
    #[arg(long, value_name = "X,Y", allow_hyphen_values = true)]
    pub to: Option<String>,
}

/// `locus admin users`.
#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    /// Only accounts a running server reports online.
    #[arg(long)]
    pub online: bool,

    /// Only accounts within --radius of X,Y.
    #[arg(
        long,
        value_name = "X,Y",
        allow_hyphen_values = true,
        requires = "radius"
    )]
    pub near: Option<String>,

    /// Distance from --near, in world units.
    #[arg(long, value_name = "R", allow_hyphen_values = true, requires = "near")]
    pub radius: Option<String>,

    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `locus admin create-user`.
#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    /// The new account's name (3-32 of A-Z a-z 0-9 _ -).
    pub name: String,

    /// Read the password from the first line of standard input instead of
    /// prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `locus admin delete-user`.
#[derive(Debug, Clone, Args)]
pub struct DeleteUserArgs {
    /// The account to delete.
    pub name: String,

    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `locus admin revoke-tokens`.
#[derive(Debug, Clone, Args)]
pub struct RevokeTokensArgs {
    /// The account whose tokens to revoke.
    pub name: String,
}

/// `locus admin bot-tokens`.
#[derive(Debug, Clone, Args)]
pub struct BotTokensArgs {
    /// Bot names are PREFIX followed by a number.
    #[arg(long, default_value = "bot")]
    pub prefix: String,

    /// How many bots.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,

    /// Number of the first bot.
    #[arg(long, default_value_t = 1)]
    pub first: u32,

    /// Lifetime of the tokens.
    #[arg(long, default_value = "7days", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// Write the tokens to FILE (created or replaced, readable only by its
    /// owner) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `locus admin backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist yet.
    pub file: PathBuf,
}

/// Why an admin command failed. Each message is meant to be printed as one
/// line after `locus admin: `.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An argument is invalid; nothing was opened.
    #[error("{0}")]
    Input(String),
    /// The database refused or failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Hashing or validating a password or name failed.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// Reading the password or confirmation, or writing output, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bot accounts were refused (a name of a real account) or failed.
    #[error("{0}")]
    BotAccounts(#[from] BotAccountError),
    /// The operator did not confirm a destructive command.
    #[error("not confirmed; nothing was changed")]
    NotConfirmed,
}

fn parse_world_size(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// Runs an admin command: prints its result on stdout, or one line on
/// stderr and returns a failure status.
pub fn run(args: AdminArgs) -> ExitCode {
    match commands::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = error.to_string().replace(['\n', '\r'], " ");
            eprintln!("locus admin: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            admin: AdminArgs,
        }
        let cli = Cli::try_parse_from(["x", "reset", "alice", "--to", "-1,2"]).unwrap();
        assert!(
            matches!(cli.admin.command, AdminCommand::Reset(ResetArgs { to: Some(ref t), .. }) if t == "-1,2")
        );
        assert!(
            Cli::try_parse_from(["x", "reset"]).is_err(),
            "USER or --all"
        );
        assert!(Cli::try_parse_from(["x", "reset", "alice", "--all"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "users", "--near", "1,2"]).is_err(),
            "needs --radius"
        );
        assert!(Cli::try_parse_from(["x", "bot-tokens", "--count", "0"]).is_err());
        let cli = Cli::try_parse_from(["x", "--db", "a.db", "users", "--json"]).unwrap();
        assert_eq!(cli.admin.db, PathBuf::from("a.db"));
    }
}
