//! Criterion bench of one world tick (`World::tick`) on one core: movement,
//! grid rebuild, views, deltas, and the JSON encoding of every snapshot in
//! the bench's outbox (as the real outbox would do).
//!
//! * `spread/N`: N players spread over a world sized so ~40 are in each view,
//!   every player moving every tick (N = 1k, 10k, 50k).
//! * `crowd/1000`: 1,000 players in one spot (all within each other's view,
//!   so the 128-player cap bounds the work), every player moving every tick.
//!
//! Targets are set between ticks (untimed); only `tick` is measured.
//! Targets on one core: 10k under 5 ms per tick, the crowd under 10 ms.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use glam::DVec2;
use locus::game::{
    ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, Teleport, World, WorldConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Encodes every snapshot, as the real outbox does, and counts the bytes.
#[derive(Default)]
struct EncodingOutbox {
    buf: Vec<u8>,
    bytes: u64,
    snapshots: u64,
}

impl Outbox for EncodingOutbox {
    fn snapshot(&mut self, _: PlayerId, snapshot: &Snapshot<'_>) -> Delivery {
        self.buf.clear();
        snapshot.write_json(&mut self.buf);
        self.bytes += self.buf.len() as u64;
        self.snapshots += 1;
        black_box(&self.buf);
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
    out: EncodingOutbox,
}

impl Scene {
    fn new(mut config: WorldConfig, players: usize, area: (DVec2, DVec2)) -> Self {
        // A/B knob for profiling: LOCUS_BENCH_RELAYOUT=<ticks> (0 disables).
        if let Some(every) = std::env::var("LOCUS_BENCH_RELAYOUT")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.relayout_interval_ticks = every;
        }
        let mut world = World::new(config).expect("valid bench config");
        let mut rng = StdRng::seed_from_u64(7);
        let mut headings = Vec::with_capacity(players);
        for id in 0..players {
            let pos = DVec2::new(
                rng.random_range(area.0.x..area.1.x),
                rng.random_range(area.0.y..area.1.y),
            );
            world.join(id as PlayerId + 1, &format!("bot{id}"), pos);
            headings.push(rng.random_range(0.0..std::f64::consts::TAU));
        }
        let mut scene = Self {
            world,
            headings,
            area,
            rng,
            seq: 0,
            out: EncodingOutbox::default(),
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

fn spread(players: usize) -> Scene {
    // ~40 others within the 600-unit view radius.
    let per_player = std::f64::consts::PI * 600.0 * 600.0 / 40.0;
    let side = (players as f64 * per_player).sqrt().ceil();
    let config = WorldConfig {
        width: side,
        height: side,
        ..Default::default()
    };
    Scene::new(config, players, (DVec2::ZERO, DVec2::new(side, side)))
}

fn crowd(players: usize) -> Scene {
    let c = DVec2::splat(2048.0);
    Scene::new(
        WorldConfig::default(),
        players,
        (c - DVec2::splat(50.0), c + DVec2::splat(50.0)),
    )
}

fn report(name: &str, scene: &Scene) {
    let out = &scene.out;
    if out.snapshots > 0 {
        eprintln!(
            "{name}: {} players, {:.0} snapshots/tick, {:.0} bytes/snapshot",
            scene.world.player_count(),
            out.snapshots as f64 / scene.world.tick_number() as f64,
            out.bytes as f64 / out.snapshots as f64,
        );
    }
}

fn world_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("world_tick");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for players in [1_000usize, 10_000, 50_000] {
        let mut scene = spread(players);
        group.bench_with_input(BenchmarkId::new("spread", players), &players, |b, _| {
            b.iter_custom(|iters| scene.timed_ticks(iters))
        });
        report(&format!("spread/{players}"), &scene);
    }
    let mut scene = crowd(1_000);
    group.bench_function(BenchmarkId::new("crowd", 1_000), |b| {
        b.iter_custom(|iters| scene.timed_ticks(iters))
    });
    report("crowd/1000", &scene);
    group.finish();
}

/// `LOCUS_BENCH_TICKS=<scene>:<ticks>` (scene: `spread1000`, `spread10000`,
/// `spread50000`, `crowd`) runs that many ticks of one scene and exits,
/// for `perf stat` / `perf record` on a noisy machine where wall time lies.
fn fixed_run() -> bool {
    let Ok(spec) = std::env::var("LOCUS_BENCH_TICKS") else {
        return false;
    };
    let (name, ticks) = spec.split_once(':').unwrap_or((&spec, "100"));
    let ticks: u64 = ticks.parse().unwrap_or(100);
    let mut scene = match name {
        "crowd" => crowd(1_000),
        other => spread(other.trim_start_matches("spread").parse().unwrap_or(10_000)),
    };
    let spent = scene.timed_ticks(ticks);
    eprintln!(
        "{name}: {ticks} ticks, {:?} per tick (wall)",
        spent / ticks.max(1) as u32
    );
    report(name, &scene);
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
