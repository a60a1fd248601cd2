//! The `kbrel` binary: parse, call the library, print. Exit codes: 0 success, 1 "the answer
//! is no", 2 error.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tune_allocator();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            output::error(&err);
            ExitCode::from(2)
        }
    }
}

/// glibc's malloc grows each thread's heap in small steps, one `mprotect` per step, and each
/// step stalls the other threads' page faults; with 20,000 documents loaded on every core
/// that showed up as system time. Take 64 MiB steps, keep freed memory up to 128 MiB instead
/// of trimming and regrowing, and serve blocks up to 32 MiB from the heap rather than from a
/// fresh mapping each time (the default adapts, but setting any of these fixes it).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only changes allocator parameters; it is called first thing in
    // `main`, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
