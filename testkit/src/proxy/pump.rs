//! The thread body moving bytes in one direction of one connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use super::state::{Conn, Flow, Shared, Step};

/// Size of each read; a [`super::Mode`] applies per chunk read.
const CHUNK: usize = 16 * 1024;

/// Forwards `flow` of `conn` until end-of-file, an error, a cut or proxy shutdown.
pub(crate) fn run(shared: &Arc<Shared>, conn: &Arc<Conn>, flow: Flow) {
    let (mut src, mut dst) = match flow {
        Flow::ClientToServer => (&conn.client, &conn.server),
        Flow::ServerToClient => (&conn.server, &conn.client),
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match src.read(&mut buf) {
            // End-of-file: pass the half-close on and let the other direction finish.
            Ok(0) => {
                let _ = dst.shutdown(Shutdown::Write);
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                cut(shared, conn);
                break;
            }
        };
        if !forward(shared, conn, flow, &mut buf[..n], &mut dst) {
            break;
        }
    }
    shared.pump_finished(conn);
}

/// Writes `data` according to the current mode. Returns `false` when the pump should stop.
fn forward(
    shared: &Shared,
    conn: &Conn,
    flow: Flow,
    mut data: &mut [u8],
    dst: &mut &TcpStream,
) -> bool {
    while !data.is_empty() {
        let (len, flip, cut_after) = match shared.next_step(conn, flow, data.len()) {
            Step::Stop => return false,
            Step::Write {
                len,
                flip,
                cut_after,
            } => (len, flip, cut_after),
        };
        let (now, rest) = std::mem::take(&mut data).split_at_mut(len);
        if let Some(at) = flip {
            if let Some(byte) = now.get_mut(at) {
                *byte ^= 0xFF;
            }
        }
        if dst.write_all(now).and_then(|()| dst.flush()).is_err() {
            cut(shared, conn);
            return false;
        }
        if cut_after {
            shared.cut_all();
            return false;
        }
        data = rest;
    }
    true
}

fn cut(shared: &Shared, conn: &Conn) {
    conn.cut();
    // Wake the other pump of this connection if it waits in a stall or delay.
    shared.notify();
}
