//! Outside views of processes for the benchmark report: CPU time and RSS
//! from Linux `/proc`, the load average, and tick-duration quantiles from
//! the server's Prometheus `/metrics` text. Parsing is pure; readers return
//! `None` where `/proc` is missing (non-Linux) or a field does not parse.
//! Must not touch the game protocol.

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on
/// every mainstream Linux build).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds used so far by process `pid` ("self" for this
/// one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields
    // after the last ')'. utime and stime are fields 14 and 15 overall.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Resident set size of process `pid`, KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Per-thread scheduler figures of process `pid`, summed by thread name:
/// `(name, ns spent running, ns spent runnable but waiting for a CPU)`, from
/// `/proc/PID/task/*/schedstat`. The waiting time shows how much of a
/// thread's wall-clock time a busy machine took from it.
pub fn thread_times(pid: &str) -> Vec<(String, u64, u64)> {
    let mut out: Vec<(String, u64, u64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue;
        };
        let mut it = stat.split_whitespace().map(|v| v.parse::<u64>().ok());
        let (Some(Some(run)), Some(Some(wait))) = (it.next(), it.next()) else {
            continue;
        };
        let name = comm.trim().to_owned();
        match out.iter_mut().find(|t| t.0 == name) {
            Some(t) => {
                t.1 += run;
                t.2 += wait;
            }
            None => out.push((name, run, wait)),
        }
    }
    out
}

/// Running and waiting nanoseconds of thread `name` between two
/// [`thread_times`] samples.
pub fn thread_delta(
    before: &[(String, u64, u64)],
    after: &[(String, u64, u64)],
    name: &str,
) -> Option<(u64, u64)> {
    let a = after.iter().find(|t| t.0 == name)?;
    let b = before.iter().find(|t| t.0 == name)?;
    Some((a.1.saturating_sub(b.1), a.2.saturating_sub(b.2)))
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Cumulative bucket counts `(upper bound in seconds, count)` of histogram
/// `name` in Prometheus text `text`, in file order (`+Inf` last).
pub fn histogram_buckets(text: &str, name: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let le_start = rest.find("le=\"")? + 4;
            let le_end = le_start + rest[le_start..].find('"')?;
            let le = match &rest[le_start..le_end] {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            let count = rest.rsplit(' ').next()?.trim().parse::<f64>().ok()? as u64;
            Some((le, count))
        })
        .collect()
}

/// The `q` quantile (0..1) of the observations between two scrapes of the
/// same histogram, interpolated linearly within its bucket as Prometheus
/// `histogram_quantile` does; `None` without observations. Returns the
/// bucket's lower bound when `q` lands in `+Inf`.
pub fn quantile_between(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> Option<f64> {
    let diff: Vec<(f64, u64)> = after
        .iter()
        .map(|&(le, n)| {
            let old = before.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
            (le, n.saturating_sub(old))
        })
        .collect();
    let total = diff.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = 0.0;
    let mut below = 0u64;
    for &(le, n) in &diff {
        if n as f64 >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = (n - below) as f64;
            let frac = if inside > 0.0 {
                (rank - below as f64) / inside
            } else {
                1.0
            };
            return Some(lower + (le - lower) * frac);
        }
        lower = le;
        below = n;
    }
    Some(lower)
}

/// Observations between two scrapes (`+Inf` bucket difference).
pub fn count_between(before: &[(f64, u64)], after: &[(f64, u64)]) -> Option<u64> {
    let a = after.last()?.1;
    let b = before.last().map_or(0, |b| b.1);
    Some(a.saturating_sub(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE locus_tick_duration_seconds histogram\n\
locus_tick_duration_seconds_sum 1.5\n\
locus_tick_duration_seconds_count 100\n\
locus_tick_duration_seconds_bucket{le=\"0.001\"} 50\n\
locus_tick_duration_seconds_bucket{le=\"0.002\"} 90\n\
locus_tick_duration_seconds_bucket{le=\"0.005\"} 100\n\
locus_tick_duration_seconds_bucket{le=\"+Inf\"} 100\n\
locus_other_bucket{le=\"1\"} 7\n";

    #[test]
    fn parses_only_the_named_histogram() {
        let b = histogram_buckets(TEXT, "locus_tick_duration_seconds");
        assert_eq!(b.len(), 4);
        assert_eq!(b[0], (0.001, 50));
        assert_eq!(b[3], (f64::INFINITY, 100));
    }

    #[test]
    fn rejects_malformed_bucket_lines() {
        let text = "locus_tick_duration_seconds_bucket{le=\"x\"} 5\n\
                    locus_tick_duration_seconds_bucket{le=\"0.1\"} many\n\
                    locus_tick_duration_seconds_bucket{} 3\n";
        assert!(histogram_buckets(text, "locus_tick_duration_seconds").is_empty());
    }

    #[test]
    fn quantiles_interpolate_within_buckets_of_the_difference() {
        let after = histogram_buckets(TEXT, "locus_tick_duration_seconds");
        let before = vec![(0.001, 50), (0.002, 50), (0.005, 50), (f64::INFINITY, 50)];
        // The 50 new observations: 40 in (1, 2] ms, 10 in (2, 5] ms.
        let p50 = quantile_between(&before, &after, 0.5).unwrap();
        assert!((p50 - 0.001625).abs() < 1e-9, "{p50}");
        let p99 = quantile_between(&before, &after, 0.99).unwrap();
        assert!(p99 > 0.002 && p99 <= 0.005, "{p99}");
        assert_eq!(count_between(&before, &after), Some(50));
        assert_eq!(quantile_between(&after, &after, 0.5), None);
    }

    #[test]
    fn reads_own_process_figures() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_seconds("self").is_some());
            assert!(rss_kib("self").unwrap() > 0);
            assert!(load_average().is_some());
            let times = thread_times("self");
            assert!(!times.is_empty());
            assert!(thread_delta(&times, &times, &times[0].0).is_some());
        }
    }
}
