-- 0001_init: accounts, sessions, positions and the admin reset clock.
--
-- Migrations are forward-only: never edit a file once it has shipped, add
-- 0002_... instead. `server/src/store/migrations.rs` embeds every file in
-- order; each runs in its own transaction and records its number in
-- `PRAGMA user_version`. All times are Unix milliseconds (INTEGER).

-- Marks the file as a Locus database ("Locu"), so that `Store::open` can tell
-- our file from another application's SQLite database and refuse to touch it.
PRAGMA application_id = 1282368373;

CREATE TABLE accounts (
    -- AUTOINCREMENT: an id is never reused, so a save still queued for a
    -- deleted account can never land on a newer one.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- ASCII only (validated by auth::validate), so NOCASE gives
    -- case-insensitive uniqueness: "Alice" and "alice" are one account.
    username     TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    -- argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash);
    -- it carries its own parameters, so they can be raised later.
    password_phc TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    -- Last login (session created) or last position save that landed;
    -- NULL until the account first logs in.
    last_seen    INTEGER
);

-- Bearer tokens, stored only as SHA-256 of the token: a leaked database holds
-- no live session.
CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- The last stored position of each placed account. No row means "never
-- placed": the game puts the player at the spawn point.
--
-- Admin reset versus a stale save (the admin CLI is another process writing
-- the same file while the server runs):
--   * `reset_clock.epoch` is a global counter. An admin reset, in ONE write
--     transaction, bumps it to E and writes the new x, y with reset_epoch = E.
--   * The server loads `reset_epoch` with the position and sends it back with
--     every save. A save only lands if the row's reset_epoch is not newer:
--       INSERT ... ON CONFLICT (account_id) DO UPDATE ...
--       WHERE positions.reset_epoch <= excluded.reset_epoch
--     so a save computed before the reset is skipped: the reset wins.
--   * The running server polls `WHERE reset_epoch > last_seen_epoch` about
--     once a second, teleports online players, and from then on saves with
--     the new epoch. Epochs are bumped inside the write transaction, which
--     SQLite serialises, so they commit in increasing order and the poll
--     cannot miss one.
CREATE TABLE positions (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    x           REAL    NOT NULL,
    y           REAL    NOT NULL,
    reset_epoch INTEGER NOT NULL DEFAULT 0,
    -- When the row last changed (a save or a reset).
    updated_at  INTEGER NOT NULL
);
CREATE INDEX positions_by_reset_epoch ON positions (reset_epoch);

-- One row: the global admin reset counter described above.
CREATE TABLE reset_clock (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO reset_clock (id, epoch) VALUES (1, 0);
