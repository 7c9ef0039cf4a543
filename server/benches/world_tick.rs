//! Criterion bench of one world tick (`World::tick`), on one core and with
//! the parallel tick (below): movement, grid rebuild, views, deltas, and the
//! encoding of every snapshot in the bench's outbox (as the real outbox
//! would do).
//!
//! * `spread/N`: N players spread over a world sized so ~40 are in each view,
//!   every player moving every tick (N = 1k, 10k, 50k).
//! * `crowd/1000`: 1,000 players in one spot (all within each other's view,
//!   so the 128-player cap bounds the work), every player moving every tick.
//! * `spawn/10000`: 10,000 players joined at the spawn point (where every new
//!   account starts), 10% of them walking around it, the rest idle there.
//! * `idle/10000`: 10,000 players spread as in `spread`, 1% of them moving
//!   (a world of players standing about): a viewer none of whose
//!   neighbours moved costs next to nothing.
//!
//! Targets are set between ticks (untimed); only `tick` is measured, with
//! every snapshot encoded in one form (`LOCUS_BENCH_FORM=json|binary`,
//! default json). After each scene, a few untimed ticks encode both forms
//! and report bytes per snapshot of each.
//!
//! Every scene runs twice: on one core (`view_threads` 1, ids `spread/N`
//! ...) and with the parallel tick (`view_threads` 2, ids
//! `spread-parallel/N` ...): views found on two threads, snapshots still
//! encoded and delivered on the tick thread.
//!
//! Issue 11 targets on one core: spread/10000 <= 3 ms, spread/50000 <= 20 ms,
//! crowd/1000 <= 2 ms, spawn/10000 <= 5 ms.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use glam::DVec2;
use locus::game::{
    ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, Teleport, World, WorldConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which form(s) the bench outbox encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    Binary,
    Both,
}

impl Form {
    fn from_env() -> Self {
        match std::env::var("LOCUS_BENCH_FORM").as_deref() {
            Ok("binary") => Form::Binary,
            _ => Form::Json,
        }
    }
}

/// Encodes every snapshot, as the real outbox does, and counts the bytes.
struct EncodingOutbox {
    form: Form,
    buf: Vec<u8>,
    json_bytes: u64,
    binary_bytes: u64,
    snapshots: u64,
}

impl EncodingOutbox {
    fn new(form: Form) -> Self {
        Self {
            form,
            buf: Vec::new(),
            json_bytes: 0,
            binary_bytes: 0,
            snapshots: 0,
        }
    }
}

impl Outbox for EncodingOutbox {
    fn snapshot(&mut self, _: PlayerId, snapshot: &Snapshot<'_>) -> Delivery {
        if self.form != Form::Binary {
            self.buf.clear();
            snapshot.write_json(&mut self.buf);
            self.json_bytes += self.buf.len() as u64;
            black_box(&self.buf);
        }
        if self.form != Form::Json {
            self.buf.clear();
            snapshot
                .write_binary(&mut self.buf)
                .expect("world snapshots have a binary form");
            self.binary_bytes += self.buf.len() as u64;
            black_box(&self.buf);
        }
        self.snapshots += 1;
        Delivery::Sent
    }
    fn teleport(&mut self, _: PlayerId, t: &Teleport) {
        black_box(t);
    }
    fn chat(&mut self, _: &[PlayerId], m: &ChatMessage) {
        black_box(m);
    }
    fn persist(&mut self, p: &[SavedPosition]) {
        black_box(p);
    }
    fn kick(&mut self, _: PlayerId, _: &str) {}
}

/// A world with players and a random walk for each.
struct Scene {
    world: World,
    /// Per player: current heading.
    headings: Vec<f64>,
    /// Area the walkers stay in: (min, max).
    area: (DVec2, DVec2),
    rng: StdRng,
    seq: u64,
    /// Only every `moving_every`-th player walks; the others stay put.
    moving_every: usize,
    out: EncodingOutbox,
}

impl Scene {
    /// `players` at random points of `area` (or all at `at`), every
    /// `moving_every`-th of them walking.
    fn new(
        mut config: WorldConfig,
        threads: usize,
        players: usize,
        area: (DVec2, DVec2),
        at: Option<DVec2>,
        moving_every: usize,
    ) -> Self {
        // A/B knob for profiling: LOCUS_BENCH_RELAYOUT=<ticks> (0 disables).
        if let Some(every) = std::env::var("LOCUS_BENCH_RELAYOUT")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.relayout_interval_ticks = every;
        }
        config.view_threads = threads;
        let mut world = World::new(config).expect("valid bench config");
        let mut rng = StdRng::seed_from_u64(7);
        let mut headings = Vec::with_capacity(players);
        for id in 0..players {
            let pos = at.unwrap_or_else(|| {
                DVec2::new(
                    rng.random_range(area.0.x..area.1.x),
                    rng.random_range(area.0.y..area.1.y),
                )
            });
            world.join(id as PlayerId + 1, &format!("bot{id}"), pos);
            headings.push(rng.random_range(0.0..std::f64::consts::TAU));
        }
        let mut scene = Self {
            world,
            headings,
            area,
            rng,
            seq: 0,
            moving_every,
            out: EncodingOutbox::new(Form::from_env()),
        };
        // Settle the initial enters so the measurement is the steady state.
        for _ in 0..3 {
            scene.set_targets();
            scene.world.tick(&mut scene.out);
        }
        scene
    }

    /// Every player wants to move one full step along a wobbling heading.
    fn set_targets(&mut self) {
        self.seq += 1;
        let step = self.world.config().speed / f64::from(self.world.config().tick_hz);
        for (i, heading) in self.headings.iter_mut().enumerate() {
            if i % self.moving_every != 0 {
                continue;
            }
            let id = i as PlayerId + 1;
            let Some(pos) = self.world.position(id) else {
                continue;
            };
            *heading += self.rng.random_range(-0.3..0.3);
            let mut target = pos + DVec2::from_angle(*heading) * step;
            if target.x < self.area.0.x || target.x > self.area.1.x {
                *heading = std::f64::consts::PI - *heading;
                target.x = target.x.clamp(self.area.0.x, self.area.1.x);
            }
            if target.y < self.area.0.y || target.y > self.area.1.y {
                *heading = -*heading;
                target.y = target.y.clamp(self.area.0.y, self.area.1.y);
            }
            self.world.set_target(id, target.x, target.y, self.seq);
        }
    }

    fn timed_ticks(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            self.set_targets();
            let start = Instant::now();
            self.world.tick(&mut self.out);
            total += start.elapsed();
        }
        total
    }
}

fn spread(threads: usize, players: usize) -> Scene {
    spread_moving(threads, players, 1)
}

/// [`spread`] with one player in `moving_every` moving.
fn spread_moving(threads: usize, players: usize, moving_every: usize) -> Scene {
    // ~40 others within the 600-unit view radius.
    let per_player = std::f64::consts::PI * 600.0 * 600.0 / 40.0;
    let side = (players as f64 * per_player).sqrt().ceil();
    let config = WorldConfig {
        width: side,
        height: side,
        ..Default::default()
    };
    Scene::new(
        config,
        threads,
        players,
        (DVec2::ZERO, DVec2::new(side, side)),
        None,
        moving_every,
    )
}

fn crowd(threads: usize, players: usize) -> Scene {
    let c = DVec2::splat(2048.0);
    Scene::new(
        WorldConfig::default(),
        threads,
        players,
        (c - DVec2::splat(50.0), c + DVec2::splat(50.0)),
        None,
        1,
    )
}

fn spawn(threads: usize, players: usize) -> Scene {
    let config = WorldConfig::default();
    let c = DVec2::new(config.width, config.height) / 2.0;
    // Walkers roam within 300 of the spawn point: inside everyone's view.
    Scene::new(
        config,
        threads,
        players,
        (c - DVec2::splat(300.0), c + DVec2::splat(300.0)),
        Some(c),
        10,
    )
}

/// Runs a few untimed ticks encoding both forms and prints bytes per
/// snapshot of each.
fn report(name: &str, scene: &mut Scene) {
    let form = scene.out.form;
    scene.out = EncodingOutbox::new(Form::Both);
    let ticks = 5;
    for _ in 0..ticks {
        scene.set_targets();
        scene.world.tick(&mut scene.out);
    }
    let out = &scene.out;
    if out.snapshots > 0 {
        eprintln!(
            "{name}: {} players, {:.0} snapshots/tick, bytes/snapshot: json {:.0}, binary {:.0}",
            scene.world.player_count(),
            out.snapshots as f64 / f64::from(ticks),
            out.json_bytes as f64 / out.snapshots as f64,
            out.binary_bytes as f64 / out.snapshots as f64,
        );
    }
    scene.out = EncodingOutbox::new(form);
}

fn world_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("world_tick");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (threads, suffix) in [(1, ""), (2, "-parallel")] {
        let mut bench = |name: &str, players: usize, mut scene: Scene| {
            let id = BenchmarkId::new(format!("{name}{suffix}"), players);
            group.bench_function(id, |b| b.iter_custom(|iters| scene.timed_ticks(iters)));
            if threads == 1 {
                report(&format!("{name}/{players}"), &mut scene);
            }
        };
        for players in [1_000usize, 10_000, 50_000] {
            bench("spread", players, spread(threads, players));
        }
        bench("crowd", 1_000, crowd(threads, 1_000));
        bench("spawn", 10_000, spawn(threads, 10_000));
        bench("idle", 10_000, spread_moving(threads, 10_000, 100));
    }
    group.finish();
}

/// `LOCUS_BENCH_TICKS=<scene>:<ticks>` (scene: `spread1000`, `spread10000`,
/// `spread50000`, `crowd`, `spawn`, `idle`) runs that many ticks of one scene and
/// exits, for `perf stat` / `perf record` or valgrind's callgrind on a noisy
/// machine where wall time lies (see `RESULTS.md`); `LOCUS_BENCH_THREADS`
/// sets `view_threads` (default 1).
fn fixed_run() -> bool {
    let Ok(spec) = std::env::var("LOCUS_BENCH_TICKS") else {
        return false;
    };
    let (name, ticks) = spec.split_once(':').unwrap_or((&spec, "100"));
    let ticks: u64 = ticks.parse().unwrap_or(100);
    let threads = std::env::var("LOCUS_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut scene = match name {
        "crowd" => crowd(threads, 1_000),
        "spawn" => spawn(threads, 10_000),
        "idle" => spread_moving(threads, 10_000, 100),
        other => spread(
            threads,
            other.trim_start_matches("spread").parse().unwrap_or(10_000),
        ),
    };
    let spent = scene.timed_ticks(ticks);
    eprintln!(
        "{name}: {ticks} ticks, {:?} per tick (wall)",
        spent / ticks.max(1) as u32
    );
    report(name, &mut scene);
    true
}

criterion_group!(benches, world_tick);

fn main() {
    if fixed_run() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
