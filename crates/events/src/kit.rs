//! The events side of the service kit: a service that publishes gets its outbox relay and
//! its log's routes, a service that consumes gets its consumer worker on the configured
//! transport and the dead-letter admin routes — from one call each.

use crate::{Broker, Consumer, Handler, Producer, Transport, admin, retention::Retention};
use platform::{Kit, db::Db, shutdown::Shutdown};
use std::future::Future;

/// What [`Kit`] can do with events. `use events::EventsKit;` to have it.
pub trait EventsKit {
    /// The service's outbox producer: serves its log (`/events/log`, `/events/outbox`) and
    /// runs its relay. A consumer made after it wakes it after each commit.
    fn producer(&mut self, db: &Db) -> Producer;

    /// A consumer of the service's subscriptions (from its `ServiceDef`) applying events
    /// with `handler`, run on the configured transport; its dead letters are listed and
    /// replayed under `/api/<service>/events/dead-letters`. The service is not ready until
    /// the consumer has caught up with what its producers had when it started
    /// ([`crate::catchup`]).
    fn consumer(&mut self, db: &Db, handler: impl Handler) -> Consumer;

    /// [`EventsKit::consumer`], run by `run` instead of the transport alone (search wraps
    /// it to stop and replay on demand).
    fn consumer_with<F, Fut>(&mut self, db: &Db, handler: impl Handler, run: F) -> Consumer
    where
        F: FnOnce(Consumer, Transport, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static;

    /// How this service's consumer receives events.
    fn transport(&self) -> Transport;
}

impl<S> EventsKit for Kit<S> {
    fn producer(&mut self, db: &Db) -> Producer {
        let producer = Producer::new(
            self.name(),
            db.clone(),
            Broker::from_settings(self.common()),
        );
        // The log is for the services that subscribe to this one's events.
        let readers = self
            .registry()
            .entries()
            .iter()
            .filter(|e| e.def.producers().contains(&self.name()))
            .map(|e| e.name().to_owned())
            .collect();
        self.routes(producer.guarded_routes(self.verifier(), readers));
        producer.retain(Retention::of(
            &self.registry(),
            self.name(),
            self.common().outbox_retention(),
        ));
        // What its subscribers take from their queues (the read models read the log).
        let mut queued: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for entry in self
            .registry()
            .entries()
            .iter()
            .filter(|e| !e.def.read_model)
        {
            let from_here = entry
                .def
                .subscriptions
                .iter()
                .filter(|s| s.producer == self.name());
            for kind in from_here.flat_map(|s| s.types.iter()) {
                let takers = queued.entry((*kind).to_owned()).or_default();
                takers.push(entry.name().to_owned());
            }
        }
        producer.expect_queues(queued);
        let relay = producer.clone();
        self.worker("outbox-relay", move |stop| relay.relay(stop));
        let (gauges, metrics) = (producer.clone(), self.metrics().clone());
        self.worker("outbox-gauges", move |stop| gauges.gauges(metrics, stop));
        self.extensions().insert(producer.clone());
        producer
    }

    fn consumer(&mut self, db: &Db, handler: impl Handler) -> Consumer {
        self.consumer_with(db, handler, |consumer, transport, stop| async move {
            transport.run(consumer, stop).await
        })
    }

    fn consumer_with<F, Fut>(&mut self, db: &Db, handler: impl Handler, run: F) -> Consumer
    where
        F: FnOnce(Consumer, Transport, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut consumer = Consumer::new(
            self.name(),
            db.clone(),
            handler,
            self.def().subscriptions,
            self.common().event_max_attempts,
        )
        .with_metrics(self.metrics());
        if let Some(producer) = self.extensions().get::<Producer>() {
            consumer = consumer.with_producer(producer.clone());
        }
        // A read model's replicas each keep their own dead letters: each asks its peers.
        let peers = if self.def().read_model {
            admin::Peers::at(self.directory().endpoints(self.name()))
        } else {
            admin::Peers::default()
        };
        self.added_api(admin::routes(consumer.clone(), self.verifier(), peers));
        let transport = self.transport();
        if !matches!(transport.broker, Broker::Embedded) {
            let attached = consumer.clone();
            self.check("broker", move || {
                std::future::ready(attached.broker_check())
            });
        }
        if self.common().ready_after_catch_up {
            let catch_up = crate::catchup::CatchUp::of(&consumer);
            let check = catch_up.clone();
            self.check("events", move || std::future::ready(check.check()));
            let (watched, watching) = (consumer.clone(), transport.clone());
            self.worker("catch-up", move |stop| {
                catch_up.watch(watched, watching, stop)
            });
        }
        let worker = consumer.clone();
        // A rolling restart's successor builds a new copy: the decisions an admin made
        // about the old one's dead letters first.
        let predecessor = (self.def().read_model)
            .then(|| self.common().predecessor_database.clone())
            .flatten();
        self.worker("events", move |stop| async move {
            if let Some(url) = predecessor {
                worker.inherit_discards_from(&url).await;
            }
            run(worker, transport, stop).await
        });
        let (retained, keep) = (consumer.clone(), self.common().outbox_retention());
        self.worker("inbox-retention", move |stop| retained.retain(keep, stop));
        consumer
    }

    /// A read model reads the producers' logs whatever the broker: only a log can be
    /// replayed, which a fresh replica's copy (or a rebuild) needs.
    fn transport(&self) -> Transport {
        let broker = if self.def().read_model {
            Broker::Embedded
        } else {
            Broker::from_settings(self.common())
        };
        Transport {
            broker,
            directory: self.directory().clone(),
            balance: self.common().balance(),
            credentials: Some(self.credentials()),
        }
    }
}
