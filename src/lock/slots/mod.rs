//! N-slot semaphores made of byte-range locks on one file ([`layout`]).

pub mod layout;
