//! `dms-refresh`: operator commands. Today one, `suggest`, which lists the
//! unmasked columns that look personal and prints a rules fragment for them.
//! See this crate's README.

mod args;
mod catalog;
mod connect;
mod detect;
mod fragment;
mod report;
mod strategy;
mod suggest;
mod value_shapes;

use std::process::ExitCode;

use args::{Command, SuggestArgs, USAGE};
use report::EXIT_ERROR;

fn main() -> ExitCode {
    let argv = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    match args::parse(argv) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("dms-refresh {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Suggest(a)) => ExitCode::from(run_suggest(&a)),
        Err(e) => {
            eprintln!("dms-refresh: {e}\n\n{USAGE}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run_suggest(args: &SuggestArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dms-refresh: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match runtime.block_on(suggest::run(args)) {
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
