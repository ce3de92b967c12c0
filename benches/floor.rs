//! The floor of the scoring comparison: a process that only reads a file and hashes its bytes
//! (std only, built by benches/compare_score.py with `rustc -O`). No scorer can be faster than
//! reading its input; how far each tool stays from this is its own cost.
//!
//! `floor FILE` prints the number of lines and the hash.

use std::hash::Hasher;
use std::io::Read;

fn main() {
    let path = std::env::args().nth(1).expect("usage: floor FILE");
    let mut file = std::fs::File::open(&path).expect("cannot open the input");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0usize;
    loop {
        let n = file.read(&mut buf).expect("read error");
        if n == 0 {
            break;
        }
        hasher.write(&buf[..n]);
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    println!("{lines} lines, hash {:016x}", hasher.finish());
}
