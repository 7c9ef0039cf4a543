//! Region leases on the private Redis of `tests/run.sh`: one holder at a
//! time, epochs grow, renew and release only act for the holder, and an
//! abandoned lease expires so another node takes it. SKIPPED without Redis
//! outside CI.

mod support;

use std::time::{Duration, Instant};

use locus::cluster::leases::Leases;
use locus::cluster::RegionId;

async fn manager(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).unwrap();
    redis::aio::ConnectionManager::new(client).await.unwrap()
}

#[tokio::test]
async fn one_holder_fenced_by_epoch_and_expiry_frees_the_region() {
    let Some(url) = support::tools::redis_url() else {
        return;
    };
    let redis = manager(&url).await;
    // A region no other run uses: a random column far beyond real layouts.
    let region = RegionId::new(1000 + rand::random::<u32>() % 1_000_000, 7);
    // Long enough that the calls before the expiry wait all run within it
    // on a loaded machine; the wait below polls for the expiry.
    let ttl = Duration::from_secs(3);
    let a = Leases::new(
        redis.clone(),
        "node-a".into(),
        ttl,
        Duration::from_millis(100),
    );
    let b = Leases::new(
        redis.clone(),
        "node-b".into(),
        ttl,
        Duration::from_millis(100),
    );

    let mut held = a
        .acquire(region)
        .await
        .unwrap()
        .expect("free region is taken");
    assert!(held.valid_at(Instant::now()));
    assert!(b.acquire(region).await.unwrap().is_none(), "second holder");
    assert_eq!(
        b.holder(region).await.unwrap(),
        Some(("node-a".into(), held.epoch))
    );
    assert!(a.renew(&mut held).await.unwrap());

    // Abandoned (a paused or killed node): it expires, b takes it with a
    // newer epoch, and a can neither renew nor release b's lease.
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        if let Some(lease) = b.acquire(region).await.unwrap() {
            break lease;
        }
        assert!(Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(taken.epoch > held.epoch);
    assert!(
        !held.valid_at(Instant::now()),
        "a stale holder must be fenced off"
    );
    assert!(!a.renew(&mut held).await.unwrap());
    assert!(!a.release(&held).await.unwrap());
    assert_eq!(
        b.holder(region).await.unwrap(),
        Some(("node-b".into(), taken.epoch))
    );
    assert!(b.release(&taken).await.unwrap());
    assert_eq!(b.holder(region).await.unwrap(), None);
}

#[tokio::test]
async fn live_nodes_expire_and_a_mismatched_shape_is_refused() {
    use locus::cluster::membership::{self, NodeInfo};
    use locus::cluster::ClusterShape;
    let Some(url) = support::tools::redis_url() else {
        return;
    };
    let mut redis = manager(&url).await;
    let shape = ClusterShape {
        regions: 2,
        world_w: 4096.0,
        world_h: 4096.0,
    };
    // Whatever test stored first, a different shape is refused after it.
    membership::check_shape(&mut redis, &shape).await.unwrap();
    membership::check_shape(&mut redis, &shape).await.unwrap();
    let other = ClusterShape {
        regions: 5,
        ..shape
    };
    let error = membership::check_shape(&mut redis, &other)
        .await
        .unwrap_err();
    assert!(error.contains("--regions 5"), "{error}");

    let id = membership::new_node_id();
    let info = NodeInfo {
        id: id.clone(),
        url: "http://x".into(),
        players: 3,
        regions: vec![[0, 1]],
    };
    membership::announce(&mut redis, &info, Duration::from_secs(3))
        .await
        .unwrap();
    let live = membership::live_nodes(&mut redis).await.unwrap();
    assert!(live.contains(&info), "{live:?}");
    let json = membership::cluster_json(2, &live);
    assert_eq!(json["regions"], 2);
    assert!(json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["id"] == id.as_str()
            && n["regions"] == serde_json::json!([[0, 1]])
            && n["players"] == 3));
    let deadline = Instant::now() + Duration::from_secs(20);
    while membership::live_nodes(&mut redis)
        .await
        .unwrap()
        .iter()
        .any(|n| n.id == id)
    {
        assert!(Instant::now() < deadline, "an unrenewed node stayed live");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Garbage under a node key is skipped, not fatal.
    let _: () = redis::cmd("SET")
        .arg(membership::node_key("junk"))
        .arg("{not json")
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg(membership::NODES_KEY)
        .arg("junk")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!membership::live_nodes(&mut redis)
        .await
        .unwrap()
        .iter()
        .any(|n| n.id == "junk"));
    membership::withdraw(&mut redis, "junk").await.unwrap();
}
