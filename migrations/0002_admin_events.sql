-- 0002_admin_events: the admin CLI and a running server talking through the
-- database file, in both directions, with no extra setup and no network.
--
-- CLI -> server: `admin_events` is an append-only queue of things the server
-- must do to online players besides position resets (those travel through
-- `positions.reset_epoch`, see 0001). The CLI appends in the same transaction
-- as the change it announces (deleting an account, revoking its tokens); the
-- server polls `WHERE id > last_id` every 250 ms and kicks the account's
-- socket. AUTOINCREMENT: ids are never reused, so pruning old rows can never
-- make the poll skip or repeat one. The CLI prunes rows older than a day.
-- With no server running, the rows are simply never acted on (nobody is
-- online), and a starting server begins after the newest id.
CREATE TABLE admin_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No foreign key: the event outlives the account it deletes.
    account_id INTEGER NOT NULL,
    -- 'kick': disconnect the account's socket with `kicked {"reason"}`.
    kind       TEXT    NOT NULL CHECK (kind IN ('kick')),
    -- Sent to the player as the `kicked` reason.
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX admin_events_by_time ON admin_events (created_at);

-- Server -> CLI: who is online, for `locus admin users --online`. The server
-- writes the accounts whose socket is bound (diffs only), and refreshes
-- `server_heartbeat` every few seconds; it empties both at start-up and at a
-- graceful stop. A presence row counts only while the heartbeat is fresh, so
-- a crashed server's leftovers read as offline.
CREATE TABLE presence (
    account_id   INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    online_since INTEGER NOT NULL
);

-- One row while a server runs: when it last confirmed `presence`.
CREATE TABLE server_heartbeat (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    started_at INTEGER NOT NULL,
    at         INTEGER NOT NULL
);
