//! Black-box tests of the gateway: the real gateway on port 0, in front of the shared
//! identity and an echo service that answers with what reached it.

mod helpers;
mod limits;
mod routing;
mod timeouts;
