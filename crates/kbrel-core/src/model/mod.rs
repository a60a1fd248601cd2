//! Model: what a knowledge base is. The configuration and the content loaded from it.

pub mod config;
pub mod content;
pub mod files;
pub mod keys;
