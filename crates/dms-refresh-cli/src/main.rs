//! `dms-refresh`: operator commands. `suggest` lists the unmasked columns
//! that look personal and prints a rules fragment for them; `validate`
//! checks a rules file against a live database without writing and shows a
//! few rows before and after masking. See this crate's README.

mod args;
mod catalog;
mod connect;
mod detect;
mod fragment;
mod key;
mod report;
mod strategy;
mod suggest;
mod validate;
mod validate_args;
mod validate_report;
mod value_shapes;

use std::future::Future;
use std::process::ExitCode;

use args::{Command, SuggestArgs};
use report::EXIT_ERROR;
use validate_args::ValidateArgs;

fn main() -> ExitCode {
    let argv = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    match args::parse(argv) {
        Ok(Command::Help(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("dms-refresh {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Suggest(a)) => ExitCode::from(run_suggest(&a)),
        Ok(Command::Validate(a)) => ExitCode::from(run_validate(&a)),
        Err(e) => {
            eprintln!("dms-refresh: {e}\n\n{}", args::usage());
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Run `work` to completion on a single-threaded runtime.
fn block_on<F: Future>(work: F) -> Result<F::Output, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(work))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn run_suggest(args: &SuggestArgs) -> u8 {
    match block_on(suggest::run(args)).and_then(|r| r) {
        Ok(report) => {
            for w in report.warnings() {
                eprintln!("{w}");
            }
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            report.exit_code()
        }
        Err(e) => {
            eprintln!("dms-refresh: {e}");
            EXIT_ERROR
        }
    }
}

fn run_validate(args: &ValidateArgs) -> u8 {
    match block_on(validate::run(args)).and_then(|r| r) {
        Ok(outcome) => {
            if args.json {
                println!("{}", outcome.to_json());
            } else {
                print!("{}", outcome.to_text());
            }
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("dms-refresh: {e}");
            EXIT_ERROR
        }
    }
}
