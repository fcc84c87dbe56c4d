//! Throwaway redis-server: startup, PING, drop, kill/restart, options, parallel use.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use corelane_testkit::RedisServer;

/// Sends one RESP command and returns what arrived up to a CRLF at the end of a read: the
/// whole reply for the small replies used here.
fn command(addr: SocketAddr, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for arg in args {
        req.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(req.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "eof before a full reply: {reply:?}");
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(reply).unwrap()
}

fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[test]
fn starts_answers_ping_and_stops_on_drop() {
    let server = RedisServer::start().unwrap();
    let addr = server.addr();
    assert_eq!(addr.port(), server.port());
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(command(addr, &["PING"]), "+PONG\r\n");
    // Persistence is off.
    let save = command(addr, &["CONFIG", "GET", "appendonly"]);
    assert!(
        save.starts_with("*2\r\n") && save.contains("no"),
        "{save:?}"
    );
    let dir = server.dir().to_path_buf();
    assert!(dir.exists());
    drop(server);
    assert!(refused(addr), "port still open after drop");
    assert!(!dir.exists(), "temp dir not removed");
}

#[test]
fn kill_and_restart_keep_the_port() {
    let mut server = RedisServer::start().unwrap();
    let addr = server.addr();
    assert!(server.is_running());
    server.kill();
    assert!(!server.is_running());
    assert!(refused(addr));
    server.restart().unwrap();
    assert_eq!(server.addr(), addr);
    assert_eq!(command(addr, &["PING"]), "+PONG\r\n");
    // Restarting a running server works too.
    server.restart().unwrap();
    assert_eq!(command(addr, &["PING"]), "+PONG\r\n");
}

#[test]
fn requirepass_and_acl_users() {
    let server = RedisServer::builder()
        .requirepass("s3cret")
        .user("alice", "on >wonderland ~* &* +@all")
        .start()
        .unwrap();
    let addr = server.addr();
    assert!(command(addr, &["PING"]).starts_with("-NOAUTH"));
    assert_eq!(command(addr, &["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(command(addr, &["AUTH", "alice", "wonderland"]), "+OK\r\n");
    assert!(command(addr, &["AUTH", "alice", "wrong"]).starts_with("-WRONGPASS"));
}

#[test]
fn acl_file_option() {
    let server = RedisServer::builder()
        .acl_file("user default on nopass ~* &* +@all\nuser bob on >builder ~* +@all\n")
        .start()
        .unwrap();
    assert_eq!(
        command(server.addr(), &["AUTH", "bob", "builder"]),
        "+OK\r\n"
    );
}

#[test]
fn bad_config_is_an_error_with_the_log() {
    let err = RedisServer::builder()
        .config("no-such-directive", &["1"])
        .start()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("exited during startup"), "{text}");
    assert!(text.contains("no-such-directive"), "{text}");
}

#[test]
fn missing_binary_names_the_package() {
    let err = RedisServer::builder()
        .binary("/nonexistent/redis-server")
        .start()
        .unwrap_err();
    assert!(
        err.to_string().contains("apt-get install redis-server"),
        "{err}"
    );
}

#[test]
fn many_servers_in_parallel() {
    let handles: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(|| RedisServer::start().unwrap()))
        .collect();
    let servers: Vec<RedisServer> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ports: Vec<u16> = servers.iter().map(RedisServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), servers.len());
    for server in &servers {
        assert_eq!(command(server.addr(), &["PING"]), "+PONG\r\n");
    }
}

/// PING over TLS with rustls, trusting `ca_pem`, showing `client` if given. `Err` when the
/// handshake or the exchange fails.
fn tls_ping(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<&corelane_testkit::CertFiles>,
) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    // ring: the provider the workspace builds with (see the runtime's TLS docs).
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(c) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(c.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"*1\r\n$4\r\nPING\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while !reply.ends_with(b"\r\n") {
        let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("eof after {reply:?}"));
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8(reply).unwrap())
}

#[test]
fn tls_port_answers_over_tls_and_survives_restart() {
    let certs = corelane_testkit::TestCerts::generate().unwrap();
    let mut server = RedisServer::builder()
        .tls(certs.ca_pem(), certs.server())
        .start()
        .unwrap();
    let tls = server.tls_addr().unwrap();
    assert_ne!(tls, server.addr());
    assert_eq!(Some(tls.port()), server.tls_port());
    let url = server.tls_url().unwrap();
    assert!(
        url.starts_with(&format!("rediss://127.0.0.1:{}?ca_file=", tls.port())),
        "{url}"
    );
    assert!(server.tls_ca_file().unwrap().exists());
    // The plain port still answers; the TLS port speaks TLS.
    assert_eq!(command(server.addr(), &["PING"]), "+PONG\r\n");
    assert_eq!(tls_ping(tls, certs.ca_pem(), None).unwrap(), "+PONG\r\n");
    server.restart().unwrap();
    assert_eq!(server.tls_addr(), Some(tls));
    assert_eq!(tls_ping(tls, certs.ca_pem(), None).unwrap(), "+PONG\r\n");
    drop(server);
    assert!(refused(tls));
}

#[test]
fn tls_auth_clients_yes_wants_a_trusted_client_certificate() {
    let certs = corelane_testkit::TestCerts::generate().unwrap();
    let server = RedisServer::builder()
        .tls(certs.ca_pem(), certs.server())
        .tls_auth_clients(corelane_testkit::TlsAuthClients::Yes)
        .start()
        .unwrap();
    let tls = server.tls_addr().unwrap();
    assert!(tls_ping(tls, certs.ca_pem(), None).is_err());
    assert!(tls_ping(tls, certs.ca_pem(), Some(certs.untrusted_client())).is_err());
    assert_eq!(
        tls_ping(tls, certs.ca_pem(), Some(certs.client())).unwrap(),
        "+PONG\r\n"
    );
}
