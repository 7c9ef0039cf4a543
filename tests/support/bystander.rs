//! The checks proving the full server still serves others after an
//! attack: a [`Bystander`] that keeps playing, and a newcomer that can
//! still join. Built on [`super::server::LocusServer`] and
//! [`super::player::Player`].

use super::player::Player;
use super::server::LocusServer;
use super::PATIENCE;

/// A logged-in player that keeps playing while others attack the server.
pub struct Bystander {
    player: Player,
    x: f64,
}

impl Bystander {
    /// Registers `name`, joins the world and waits for `welcome`.
    pub async fn join(server: &LocusServer, name: &str) -> Self {
        let (_, token) = server.account(name).await;
        let mut player = Player::join(server.addr(), &token).await;
        player.wait_for("welcome", |_| true).await;
        Self { player, x: 2048.0 }
    }

    /// Asserts the server still serves: HTTP answers, and this player's
    /// next move comes back acknowledged in a snapshot.
    pub async fn still_served(&mut self, server: &LocusServer) {
        let health = server
            .http
            .get(server.url("/api/health"))
            .timeout(PATIENCE)
            .send()
            .await
            .expect("health answers");
        assert_eq!(health.status(), 200, "health after the attack");
        self.x += 1.0;
        let seq = self.player.move_to(self.x, 2048.0).await;
        self.player
            .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
            .await;
    }
}

/// A brand-new account can still join and play (for tests whose settings
/// would time out a long-lived bystander).
pub async fn newcomer_plays(server: &LocusServer, name: &str) {
    let mut newcomer = Bystander::join(server, name).await;
    newcomer.still_served(server).await;
}
