//! Settings the binaries read from the environment.

/// A whole number from the environment variable `name`, if it is set.
pub fn number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, Box<dyn std::error::Error>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => match text.parse() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(format!("{name}={text}: expected a whole number").into()),
        },
    }
}
