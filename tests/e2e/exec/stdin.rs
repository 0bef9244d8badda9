//! rp-exec --stdin on a box: a file of several MB is streamed after the env block (not read
//! into memory first) and arrives byte for byte.
use super::*;
use crate::support::{run_expect, shm_tempdir, stderr, SshBox};
use sha2::{Digest, Sha256};

#[test]
fn remote_stdin_file_of_megabytes_arrives_byte_exact() {
    let b = SshBox::start();
    let t = shm_tempdir();
    let input = t.path().join("input.bin");
    // 12 MiB of bytes that are not all alike (every byte value, in a shifting pattern).
    let data: Vec<u8> = (0u32..12 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&input, &data).unwrap();
    let want: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = run_expect(
        rp_exec(Some(&b))
            .arg("--stdin")
            .arg(&input)
            .args(["--env", "SEEN=from the env block", "--"])
            .args([
                "sh",
                "-c",
                "echo \"env=$SEEN\"; echo \"sha=$(sha256sum | cut -d' ' -f1)\"",
            ]),
        0,
    );
    let err = stderr(&out);
    assert!(err.contains("env=from the env block\n"), "{err}");
    assert!(err.contains(&format!("sha={want}\n")), "{err}");
}
