//! Security: TLS on SSL listeners, SASL authentication (PLAIN, SCRAM, OAUTHBEARER), and
//! the credentials brokers check; and the other side, a broker's own connections to
//! other nodes' listeners (`client`). The connection loop and the SASL request handlers ask
//! this room; no other handler parses credentials. A connection's principal comes from
//! here, through its session.

pub mod acl;
pub mod authentication;
pub mod authorizer;
pub mod bootstrap;
pub mod client;
pub mod image;
pub mod jaas;
pub mod listener;
pub mod principal;
pub mod quotas;
pub mod sasl;
pub mod scram;
pub mod store;
pub mod tls;

pub use authentication::Authentication;
pub use authorizer::Authorizer;
pub use image::{SecurityImage, SecurityRecord};
pub use listener::{ListenerSecurity, SecurityConfigError};
pub use store::SecurityStore;

/// Kafka's principal of an unauthenticated connection.
pub const ANONYMOUS: &str = "User:ANONYMOUS";
