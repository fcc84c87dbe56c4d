//! The client's `+switch-master` watcher: a subscription on one sentinel at a time (the next
//! one when it drops), and a task that, on an event for our master, records the switch and
//! has every worker close its connections to the old master.

use std::time::Duration;

use super::resolve::sentinel_config;
use crate::addr::Addr;
use crate::config::Config;
use crate::pubsub::internal::InternalSubscription;
use crate::switch_hint::SwitchHint;
use crate::{Error, SubscriberOptions};

/// The channel sentinels announce a new master on.
const CHANNEL: &[u8] = b"+switch-master";

/// How long each worker has to close its old-master connections (it answers as soon as its
/// current task yields; a stuck worker closes them at its next use instead).
const GATHER_DEADLINE: Duration = Duration::from_secs(2);

/// Between attempts to have the subscription confirmed.
const RESUBSCRIBE_WAIT: Duration = Duration::from_millis(200);

/// The client as the watcher sees it. The client implements it (with a reference that does not
/// keep it alive), so that this module does not depend on the client's.
pub(crate) trait SwitchTarget: Send + 'static {
    /// Has every worker close its connections to the old master, giving each `deadline` to
    /// answer. False when the client is gone: the watcher then ends.
    async fn master_switched(&self, deadline: Duration) -> bool;
}

/// Owned by the client: dropping it closes the subscription and ends the watcher's task.
pub(crate) struct Watch {
    subscription: InternalSubscription,
    hint: SwitchHint,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.subscription.close();
    }
}

impl Watch {
    /// Starts watching for `client`, whose config is in Sentinel mode (`None` otherwise).
    pub(crate) fn start(
        config: &Config,
        worker: &corelane_runtime::WorkerLoop,
        client: impl SwitchTarget,
    ) -> Result<Option<Watch>, Error> {
        let Some(settings) = &config.sentinel else {
            return Ok(None);
        };
        let configs = settings
            .sentinels
            .iter()
            .map(|(host, port)| sentinel_config(config, host, *port))
            .collect();
        // Short waits: while the watcher is down, switches go unnoticed.
        let options = SubscriberOptions::default()
            .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(1));
        let subscription = InternalSubscription::start(worker, configs, options, CHANNEL)?;
        let hint = settings.switch.clone();
        let (task_subscription, task_hint) = (subscription.clone(), hint.clone());
        let master = settings.master.clone();
        worker.submit(move || {
            let task = follow(task_subscription, client, task_hint, master);
            // Fails only off a worker; the subscription then lives on unread until closed.
            let _ = corelane_runtime::task::spawn_detached(task);
        })?;
        Ok(Some(Watch { subscription, hint }))
    }

    /// True while the subscription is confirmed on a live connection to a sentinel.
    pub(crate) fn is_subscribed(&self) -> bool {
        self.hint.is_subscribed() && self.subscription.is_connected()
    }
}

/// The watcher's task: confirm the subscription, then act on each event for `master`.
async fn follow(
    subscription: InternalSubscription,
    client: impl SwitchTarget,
    hint: SwitchHint,
    master: String,
) {
    // The first connection subscribes by itself; a failed attempt leaves the channel wanted,
    // but only a confirmation says it is in place.
    while subscription.subscribe(CHANNEL).await.is_err() {
        if subscription.is_closed() {
            return;
        }
        corelane_runtime::task::sleep(RESUBSCRIBE_WAIT).await;
    }
    hint.set_subscribed(true);
    while let Some(message) = subscription.next().await {
        let Some((name, old, _new)) = message.payload_str().and_then(parse_switch) else {
            continue;
        };
        if name != master {
            continue;
        }
        hint.record(old);
        if !client.master_switched(GATHER_DEADLINE).await {
            return;
        }
    }
}

/// `<name> <old-ip> <old-port> <new-ip> <new-port>`.
fn parse_switch(payload: &str) -> Option<(&str, Addr, Addr)> {
    let mut parts = payload.split(' ');
    let name = parts.next()?;
    let mut addr = || -> Option<Addr> {
        let host = parts.next()?.to_owned();
        let port = parts.next()?.parse().ok()?;
        Some(Addr::Tcp { host, port })
    };
    let old = addr()?;
    let new = addr()?;
    Some((name, old, new))
}

#[cfg(test)]
mod tests {
    use super::parse_switch;
    use crate::addr::Addr;

    #[test]
    fn switch_master_payloads() {
        let (name, old, new) = parse_switch("mymaster 127.0.0.1 6379 10.0.0.2 6380").unwrap();
        assert_eq!(name, "mymaster");
        assert_eq!(
            old,
            Addr::Tcp {
                host: "127.0.0.1".into(),
                port: 6379
            }
        );
        assert_eq!(
            new,
            Addr::Tcp {
                host: "10.0.0.2".into(),
                port: 6380
            }
        );
        assert!(parse_switch("mymaster 127.0.0.1 x 10.0.0.2 6380").is_none());
        assert!(parse_switch("mymaster 127.0.0.1 6379").is_none());
    }
}
