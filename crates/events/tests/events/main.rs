//! The events machinery end to end, in one process but over real transports: a producer
//! service with its own SQLite outbox, consumers with their own databases, the embedded
//! HTTP log and (when `BAZAAR_TEST_AMQP_URL` is set) RabbitMQ.

mod amqp;
mod contracts;
mod embedded;
mod helpers;
mod retention;
