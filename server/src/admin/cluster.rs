//! `locus admin cluster --cluster redis://...`: the live nodes of a
//! cluster, read from its Redis (node keys and the shape), as a table or,
//! with `--json`, as `GET /api/cluster` shows them.

use clap::Args;

use super::AdminError;
use crate::cluster::membership;

/// `locus admin cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The cluster's Redis, as given to `locus serve --cluster`.
    #[arg(long, env = "LOCUS_CLUSTER")]
    pub cluster: String,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the cluster.
pub(super) fn cluster(cmd: &ClusterArgs) -> Result<(), AdminError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| AdminError::Io {
            what: "starting the runtime".into(),
            source,
        })?;
    let unreachable = |e: redis::RedisError| {
        AdminError::Input(format!("cannot read the cluster from Redis: {e}"))
    };
    let (regions, nodes) = runtime.block_on(async {
        let client = redis::Client::open(cmd.cluster.as_str()).map_err(unreachable)?;
        let mut redis = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(unreachable)?;
        let shape = membership::stored_shape(&mut redis)
            .await
            .map_err(unreachable)?;
        let nodes = membership::live_nodes(&mut redis)
            .await
            .map_err(unreachable)?;
        Ok::<_, AdminError>((shape.map_or(0, |s| s.regions), nodes))
    })?;
    if cmd.json {
        println!("{}", membership::cluster_json(regions, &nodes));
        return Ok(());
    }
    println!("{regions} x {regions} regions, {} live nodes", nodes.len());
    println!("{:<18} {:<32} {:>8}  regions", "node", "url", "players");
    for n in &nodes {
        let held: Vec<String> = n.regions.iter().map(|[x, y]| format!("{x},{y}")).collect();
        println!(
            "{:<18} {:<32} {:>8}  {}",
            n.id,
            n.url,
            n.players,
            held.join(" ")
        );
    }
    Ok(())
}
