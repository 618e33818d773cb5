//! hash_registry: written with issue 4.
