//! Seal a token into session cookie values, as the module's callback would.
//!
//! `cargo run -p authentik-core --example seal_session -- COOKIE_SECRET_FILE COOKIE_NAME < token`
//! prints one `name=value` line per cookie chunk.

use std::io::Read;

use authentik_core::provider::read_secret_file;
use authentik_core::seal::SealKey;
use authentik_core::session::seal_session;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, secret_file, cookie_name] = args.as_slice() else {
        return Err("usage: seal_session COOKIE_SECRET_FILE COOKIE_NAME < token".into());
    };
    let secret = read_secret_file(secret_file)?;
    let mut token = String::new();
    std::io::stdin()
        .read_to_string(&mut token)
        .map_err(|e| e.to_string())?;
    let key = SealKey::derive(&secret, "session");
    let cookies =
        seal_session(&key, cookie_name, token.trim().as_bytes()).map_err(|e| e.to_string())?;
    for (name, value) in cookies {
        println!("{name}={value}");
    }
    Ok(())
}
