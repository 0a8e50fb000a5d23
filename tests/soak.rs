//! The short soak: `bash bench/soak.sh 10` against this build of Kat must pass (0 errors,
//! 0 5xx, bounded RSS) while the data files are rewritten good and bad.

mod common;

use common::{manifest_dir, skip_or_fail};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_short_soak_passes() {
    for tool in ["bash", "wrk", "curl"] {
        if !have(tool) {
            skip_or_fail(&format!(
                "{tool} is not installed; the soak test needs bash, wrk and curl"
            ));
            return;
        }
    }
    let out = Command::new("bash")
        .arg(manifest_dir().join("bench/soak.sh"))
        .arg("10")
        .env("KAT_BIN", env!("CARGO_BIN_EXE_kat"))
        .current_dir(manifest_dir())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the soak failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("PASS"), "{stdout}");
}
