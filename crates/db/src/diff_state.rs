//! diff_state: written with issue 4.
