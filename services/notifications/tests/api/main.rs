//! Notifications' black-box tests: a real identity (tokens, and `user.registered` over the
//! embedded transport) and a real notifications service, each on port 0 with its own
//! SQLite file; orders' and payments' events delivered through the consumer; a minimal
//! SMTP server in the test for email.

mod bad_input;
mod email;
mod helpers;
mod mailbox;
mod openapi;
mod stream;
