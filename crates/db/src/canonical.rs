//! canonical: written with issue 4.
