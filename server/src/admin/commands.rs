//! The admin commands themselves: check the arguments, open the database
//! with [`AdminStore`] (never creating it), make the change, print what
//! changed. Blocking code for a short-lived process; must not be called from
//! async code.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::Path;

use glam::DVec2;

use super::coords::{parse_point, parse_radius, spawn_point};
use super::table::{self, UserFilter};
use super::{
    AdminArgs, AdminCommand, AdminError, BackupArgs, BotTokensArgs, CreateUserArgs, DeleteUserArgs,
    ResetArgs, RevokeTokensArgs, UsersArgs,
};
use crate::auth::{token, validate, PasswordConfig, PasswordHasher};
use crate::bot_accounts::{create_bot_accounts, refuse_real_accounts};
use crate::game::PlayerId;
use crate::store::{AdminStore, Database, ResetTarget, StoreConfig};

type Result<T> = std::result::Result<T, AdminError>;

pub(super) fn run(args: &AdminArgs) -> Result<()> {
    match &args.command {
        AdminCommand::Reset(cmd) => reset(args, cmd),
        AdminCommand::Users(cmd) => users(args, cmd),
        AdminCommand::CreateUser(cmd) => create_user(args, cmd),
        AdminCommand::DeleteUser(cmd) => delete_user(args, cmd),
        AdminCommand::RevokeTokens(cmd) => revoke_tokens(args, cmd),
        AdminCommand::BotTokens(cmd) => bot_tokens(args, cmd),
        AdminCommand::Backup(cmd) => backup(args, cmd),
        AdminCommand::Cluster(cmd) => super::cluster::cluster(cmd),
    }
}

fn open(args: &AdminArgs) -> Result<AdminStore> {
    let config = StoreConfig {
        busy_timeout: args.busy_timeout,
        ..StoreConfig::default()
    };
    let database = Database::from_arg(&args.db)?;
    Ok(AdminStore::connect(&database, &config)?)
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AdminError {
    let what = what.into();
    move |source| AdminError::Io { what, source }
}

fn fmt_point(p: DVec2) -> String {
    format!("({:.2}, {:.2})", p.x, p.y)
}

/// Whether a running server reports the account online now.
fn is_online(store: &AdminStore, id: PlayerId) -> Result<bool> {
    Ok(store
        .online_accounts()?
        .iter()
        .any(|(online, _)| *online == id))
}

fn reset(args: &AdminArgs, cmd: &ResetArgs) -> Result<()> {
    let to = match &cmd.to {
        Some(text) => parse_point(text, args.world_size).map_err(AdminError::Input)?,
        None => spawn_point(args.world_size),
    };
    let mut store = open(args)?;
    match &cmd.user {
        Some(name) => {
            let account = store
                .account(name)?
                .ok_or_else(|| crate::store::StoreError::UnknownUser(name.clone()))?;
            let before = store
                .list_users()?
                .into_iter()
                .find(|u| u.id == account.id)
                .and_then(|u| u.position)
                .map_or_else(
                    || "the spawn point (never placed)".to_owned(),
                    |p| fmt_point(DVec2::new(p.x, p.y)),
                );
            let outcome =
                store.reset_position(&ResetTarget::User(account.username.clone()), to.x, to.y)?;
            let live = if is_online(&store, account.id)? {
                "online: the running server teleports the player within a second"
            } else {
                "offline: the player starts there at the next connection"
            };
            println!(
                "reset {} (id {}) from {before} to {} under reset epoch {}; {live}",
                account.username,
                account.id,
                fmt_point(to),
                outcome.epoch
            );
        }
        None => {
            let outcome = store.reset_position(&ResetTarget::All, to.x, to.y)?;
            let online = store.online_accounts()?.len();
            println!(
                "reset {} accounts to {} under reset epoch {}; {online} online players are teleported by the running server within a second",
                outcome.accounts,
                fmt_point(to),
                outcome.epoch
            );
        }
    }
    Ok(())
}

fn users(args: &AdminArgs, cmd: &UsersArgs) -> Result<()> {
    let near = match (&cmd.near, &cmd.radius) {
        (Some(point), Some(radius)) => Some((
            parse_point(point, args.world_size).map_err(AdminError::Input)?,
            parse_radius(radius).map_err(AdminError::Input)?,
        )),
        _ => None,
    };
    let filter = UserFilter {
        online_only: cmd.online,
        near,
    };
    let store = open(args)?;
    let rows = table::rows(&store.list_users()?, spawn_point(args.world_size), &filter);
    let text = if cmd.json {
        table::to_json(&rows) + "\n"
    } else {
        table::to_table(&rows)
    };
    write_stdout(&text, "cannot write to standard output")
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str, what: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(AdminError::Io {
            what: what.to_owned(),
            source: err,
        }),
        _ => Ok(()),
    }
}

/// Reads the new password: the first line of stdin, or twice from the
/// terminal without echo.
fn read_password(name: &str, from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(io_error("cannot read the password from standard input"))?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        return Ok(password.to_owned());
    }
    let first = rpassword::prompt_password(format!("Password for {name}: ")).map_err(io_error(
        "cannot read the password from the terminal (use --password-stdin without one)",
    ))?;
    let second = rpassword::prompt_password("Repeat the password: ")
        .map_err(io_error("cannot read the password from the terminal"))?;
    if first != second {
        return Err(AdminError::Input(
            "the passwords do not match; nothing was changed".to_owned(),
        ));
    }
    Ok(first)
}

/// argon2id with the server's default parameters, on a small runtime of its
/// own (the hasher runs on tokio's blocking pool).
fn hash_password(password: &str) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_error("cannot start the async runtime"))?;
    runtime.block_on(async {
        let hasher = PasswordHasher::new(&PasswordConfig::default()).await?;
        Ok(hasher.hash(password).await?)
    })
}

fn create_user(args: &AdminArgs, cmd: &CreateUserArgs) -> Result<()> {
    validate::username(&cmd.name)?;
    let mut store = open(args)?;
    if store.account(&cmd.name)?.is_some() {
        return Err(AdminError::Input(format!(
            "an account named {:?} exists already (names ignore case)",
            cmd.name
        )));
    }
    let password = read_password(&cmd.name, cmd.password_stdin)?;
    validate::password(&password)?;
    let phc = hash_password(&password)?;
    let id = store.create_user(&cmd.name, &phc)?;
    println!("created account {} (id {id})", cmd.name);
    Ok(())
}

/// Asks on stderr and reads y/yes from stdin.
fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(io_error("cannot read the confirmation"))?;
    if !std::io::stdin().is_terminal() {
        // Keep the transcript readable when the answer was piped in.
        eprintln!();
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn delete_user(args: &AdminArgs, cmd: &DeleteUserArgs) -> Result<()> {
    let mut store = open(args)?;
    let account = store
        .account(&cmd.name)?
        .ok_or_else(|| crate::store::StoreError::UnknownUser(cmd.name.clone()))?;
    let question = format!(
        "Delete account {} (id {}) with its tokens and position? This cannot be undone.",
        account.username, account.id
    );
    if !cmd.yes && !confirm(&question)? {
        return Err(AdminError::NotConfirmed);
    }
    let online = is_online(&store, account.id)?;
    let id = store.delete_user(&account.username)?;
    let live = if online {
        "; the running server kicks the online player within a second"
    } else {
        ""
    };
    println!("deleted account {} (id {id}){live}", account.username);
    Ok(())
}

fn revoke_tokens(args: &AdminArgs, cmd: &RevokeTokensArgs) -> Result<()> {
    let mut store = open(args)?;
    let account = store
        .account(&cmd.name)?
        .ok_or_else(|| crate::store::StoreError::UnknownUser(cmd.name.clone()))?;
    let online = is_online(&store, account.id)?;
    let revoked = store.revoke_tokens(&account.username)?;
    let live = if online {
        "; the running server disconnects the online player within a second"
    } else {
        ""
    };
    println!(
        "revoked {revoked} tokens of {} (id {}){live}",
        account.username, account.id
    );
    Ok(())
}

/// The bot names, checked against the username rules.
fn bot_names(cmd: &BotTokensArgs) -> Result<Vec<String>> {
    let last = cmd
        .first
        .checked_add(cmd.count - 1)
        .ok_or_else(|| AdminError::Input("--first plus --count is too large".to_owned()))?;
    for sample in [cmd.first, last] {
        let name = format!("{}{sample}", cmd.prefix);
        validate::username(&name).map_err(|e| {
            AdminError::Input(format!("bot name {name:?} is not a valid username: {e}"))
        })?;
    }
    Ok((cmd.first..=last)
        .map(|n| format!("{}{n}", cmd.prefix))
        .collect())
}

/// Opens the token file before the database changes, so an unwritable path
/// fails first; only the owner may read it (the tokens are credentials).
fn create_out_file(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(io_error(format!("cannot create {}", path.display())))
}

fn bot_tokens(args: &AdminArgs, cmd: &BotTokensArgs) -> Result<()> {
    let names = bot_names(cmd)?;
    let mut store = open(args)?;
    refuse_real_accounts(&store, &names)?;
    let out = cmd.out.as_deref().map(create_out_file).transpose()?;
    let (ids, issued) = create_bot_accounts(&mut store, &names, cmd.ttl)?;
    let distinct: HashSet<PlayerId> = ids.iter().copied().collect();

    let mut text = String::with_capacity(issued.len() * (token::TOKEN_LEN + 1));
    for token in &issued {
        text.push_str(&token.token);
        text.push('\n');
    }
    match (out, &cmd.out) {
        (Some(file), Some(path)) => {
            let mut writer = BufWriter::new(file);
            writer
                .write_all(text.as_bytes())
                .and_then(|()| writer.flush())
                .map_err(io_error(format!(
                    "cannot write the tokens to {}",
                    path.display()
                )))?;
            println!(
                "{} bots {}{}..{}{} ready, one token each valid for {}; tokens in {}",
                distinct.len(),
                cmd.prefix,
                cmd.first,
                cmd.prefix,
                cmd.first + cmd.count - 1,
                humantime::format_duration(cmd.ttl),
                path.display()
            );
        }
        _ => {
            write_stdout(&text, "cannot write the tokens to standard output")?;
            eprintln!(
                "{} bots {}{}..{}{} ready, one token each valid for {}",
                distinct.len(),
                cmd.prefix,
                cmd.first,
                cmd.prefix,
                cmd.first + cmd.count - 1,
                humantime::format_duration(cmd.ttl)
            );
        }
    }
    Ok(())
}

fn backup(args: &AdminArgs, cmd: &BackupArgs) -> Result<()> {
    if cmd.file.exists() {
        return Err(AdminError::Input(format!(
            "{} exists already; choose a new file name",
            cmd.file.display()
        )));
    }
    let store = open(args)?;
    // On PostgreSQL this refuses with the pg_dump command to run instead.
    store.backup_to(&cmd.file)?;
    let bytes = std::fs::metadata(&cmd.file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({bytes} bytes)",
        store.describe(),
        cmd.file.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bots(prefix: &str, first: u32, count: u32) -> BotTokensArgs {
        BotTokensArgs {
            prefix: prefix.to_owned(),
            count,
            first,
            ttl: std::time::Duration::from_secs(60),
            out: None,
        }
    }

    #[test]
    fn bot_names_are_numbered_from_first() {
        assert_eq!(
            bot_names(&bots("bot", 1, 3)).unwrap(),
            ["bot1", "bot2", "bot3"]
        );
        assert_eq!(bot_names(&bots("b-", 10, 1)).unwrap(), ["b-10"]);
    }

    #[test]
    fn rejects_bot_prefix_making_invalid_names() {
        assert!(bot_names(&bots("bad prefix", 1, 1)).is_err());
        assert!(bot_names(&bots("", 1, 1)).is_err(), "too short");
        assert!(
            bot_names(&bots(&"x".repeat(31), 1, 10)).is_err(),
            "too long at the end"
        );
        assert!(bot_names(&bots("bot", u32::MAX, 2)).is_err(), "overflow");
    }
}
