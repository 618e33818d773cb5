//! views: written with issue 4.
