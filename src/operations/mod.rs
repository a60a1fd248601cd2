//! Operations: the commands, each a pipeline of services. `kbrel`'s binary calls one per
//! command.

pub mod import;
pub mod init;
pub mod pack;
pub mod publish;
pub mod push;
pub mod server;
pub mod sync;
pub mod verify;
pub mod web;
