//! The `kbrel` binary: parse, call the library, print. Exit codes: 0 success, 1 "the answer
//! is no", 2 error.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod alloc;
mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    alloc::tune();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            output::error(&err);
            ExitCode::from(2)
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;
