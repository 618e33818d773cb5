//! Creates (first time) and starts the embedded local PostgreSQL under the given folder
//! (default: `.wfops` of the current directory), then prints its port. Used by
//! `scripts/print-schema.sh` when the cluster does not exist yet.
//!
//! The owner password stays in `<folder>/pg.password`; it is never printed.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".wfops"));
    match wfops_db::embedded::ensure(&root) {
        Ok(cluster) => {
            println!("{}", cluster.port());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("local_pg: {err}");
            ExitCode::FAILURE
        }
    }
}
