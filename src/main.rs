#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    dva_connector::cli::run()
}
