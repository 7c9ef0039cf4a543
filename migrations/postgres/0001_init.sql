-- 0001_init (PostgreSQL): the whole Locus schema, the same tables as the
-- SQLite migrations 0001 and 0002 plus what several servers sharing one
-- database need (a server id on presence, a heartbeat row per server, the
-- origin of an admin event).
--
-- Migrations are forward-only: never edit a file once it has shipped, add
-- 0002_... instead. `server/src/store/postgres/migrations.rs` embeds every
-- file in order and runs each in its own transaction under an advisory lock
-- (two servers starting at once migrate once), recording its number in
-- `locus_schema`. All times are Unix milliseconds (BIGINT), as in SQLite, so
-- both backends share one conversion.

-- Marks the database as Locus's, with the schema version: `Store::connect`
-- refuses a database that has tables but no such row (another application's)
-- or a newer version, without touching it.
CREATE TABLE locus_schema (
    application TEXT    NOT NULL CHECK (application = 'locus'),
    version     INTEGER NOT NULL
);
INSERT INTO locus_schema (application, version) VALUES ('locus', 0);

CREATE TABLE accounts (
    -- Identity: an id is never reused, so a save still queued for a deleted
    -- account can never land on a newer one.
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- ASCII only (validated by auth::validate); unique ignoring case through
    -- the index below, and every lookup compares lower(username).
    username     TEXT   NOT NULL,
    -- argon2id PHC string; it carries its own parameters.
    password_phc TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    -- Last login or last position save that landed; NULL until first login.
    last_seen    BIGINT
);
CREATE UNIQUE INDEX accounts_by_name ON accounts (lower(username));

-- Bearer tokens, stored only as SHA-256 of the token.
CREATE TABLE sessions (
    token_hash BYTEA  PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- The last stored position of each placed account; the reset-epoch rule of
-- the SQLite 0001 applies unchanged: a save lands only
--     ON CONFLICT (account_id) DO UPDATE ...
--     WHERE positions.reset_epoch <= EXCLUDED.reset_epoch
-- which PostgreSQL evaluates against the latest committed row after locking
-- it, so a reset committed by the CLI (or another server) while a flush runs
-- still wins. Resets serialise on the `reset_clock` row lock, so they commit
-- in epoch order and a poll `WHERE reset_epoch > seen` cannot miss one.
CREATE TABLE positions (
    account_id  BIGINT           PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    x           DOUBLE PRECISION NOT NULL,
    y           DOUBLE PRECISION NOT NULL,
    reset_epoch BIGINT           NOT NULL DEFAULT 0,
    updated_at  BIGINT           NOT NULL
);
CREATE INDEX positions_by_reset_epoch ON positions (reset_epoch);

CREATE TABLE reset_clock (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT  NOT NULL
);
INSERT INTO reset_clock (id, epoch) VALUES (1, 0);

-- Things a running server must do to its online players: kicks asked for by
-- the admin CLI (origin_server NULL) or by another server where the same
-- account just logged in (origin_server = that server, which skips its own
-- events). Every server polls `WHERE id > its own cursor`. Appends take an
-- EXCLUSIVE lock on the table until commit, so ids commit in increasing
-- order and a poll cannot skip one that commits late.
CREATE TABLE admin_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: the event outlives the account it deletes.
    account_id    BIGINT NOT NULL,
    kind          TEXT   NOT NULL CHECK (kind IN ('kick')),
    reason        TEXT   NOT NULL,
    origin_server TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX admin_events_by_time ON admin_events (created_at);

-- One row per running server (a random id chosen at start): when it last
-- confirmed its presence rows. A server whose heartbeat is stale is taken
-- as gone and its presence rows read as offline.
CREATE TABLE servers (
    server_id    TEXT   PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Who is online, and on which server. An account is on one server at a
-- time: a login elsewhere moves the row (and kicks the old socket).
CREATE TABLE presence (
    account_id   BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    server_id    TEXT   NOT NULL,
    online_since BIGINT NOT NULL
);
CREATE INDEX presence_by_server ON presence (server_id);
