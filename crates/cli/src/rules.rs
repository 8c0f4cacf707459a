//! `visualpath test`: fusion rule tests.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn test(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for f in files {
        match visualpath_yaml::from_path::<visualpath_fusion::RuleTest>(f) {
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
            Ok(t) => match t.run() {
                Ok(()) => eprintln!("ok    {}", f.display()),
                Err(diff) => {
                    failed += 1;
                    eprintln!("FAIL  {}\n{diff}", f.display());
                }
            },
        }
    }
    eprintln!("{} passed, {failed} failed", files.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
