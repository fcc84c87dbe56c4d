//! A line-echo server speaking TLS, for running the round-trip tests over encrypted sockets.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use corelane_testkit::{CertFiles, ScriptedServer, TestCerts};

/// A line-echo server speaking TLS with `cert` (and requiring a client certificate signed by
/// the test CA when `mutual`).
pub fn tls_echo(certs: &TestCerts, cert: &CertFiles, mutual: bool) -> ScriptedServer {
    let config = certs.server_config(cert, mutual).unwrap();
    ScriptedServer::start(Duration::from_secs(60), move |_, tcp| {
        echo_tls(config.clone(), tcp)
    })
    .unwrap()
}

pub fn echo_tls(config: Arc<rustls::ServerConfig>, tcp: TcpStream) {
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match std::io::Read::read(&mut tls, &mut buf) {
            Ok(0) | Err(_) => {
                // Answer a close with close_notify, as a well-behaved server does.
                tls.conn.send_close_notify();
                let _ = tls.flush();
                return;
            }
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let complete = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if complete > 0 {
            let out: Vec<u8> = pending.drain(..complete).collect();
            if tls.write_all(&out).is_err() || tls.flush().is_err() {
                return;
            }
        }
    }
}
