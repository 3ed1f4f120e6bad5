//! Guest drivers.

pub mod balloon;
