//! No library: this crate holds the end-to-end scenario in `tests/scenario/` (see README.md).
