//! workflows: written with issue 4.
