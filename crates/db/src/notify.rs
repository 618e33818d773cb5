//! notify: written with issue 4.
