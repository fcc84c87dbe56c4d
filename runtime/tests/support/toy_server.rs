//! A line-echo server built on the runtime itself: it owns a loop, accepts on every worker and
//! echoes through registered connections. It hands its workers to drivers (`ServerProvider`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use corelane_runtime::{
    CloseCause, EventLoopProvider, Handler, Limits, Loop, Registered, ServerProvider, TcpListener,
    WorkerLoop,
};

type Me = Rc<RefCell<Option<Registered<EchoHandler>>>>;

struct EchoHandler {
    me: Me,
}

impl Handler for EchoHandler {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        let Some(end) = input.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let lines = input.split_to(end + 1);
        if let Some(conn) = self.me.borrow().as_ref() {
            conn.write(&lines)
                .map_err(|e| CloseCause::protocol(e.to_string()))?;
        }
        Ok(())
    }

    fn on_close(&mut self, _cause: &CloseCause) {
        // Break the handle cycle (handler -> handle -> connection -> handler).
        self.me.borrow_mut().take();
    }
}

pub struct ToyEchoServer {
    workers: Arc<Loop>,
    pub addr: SocketAddr,
    /// Ids of the workers that accepted each connection.
    pub served_on: Arc<Mutex<Vec<usize>>>,
}

impl ToyEchoServer {
    pub fn start(workers: usize) -> ToyEchoServer {
        let lp = Arc::new(super::test_loop(workers));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let served_on = Arc::new(Mutex::new(Vec::new()));
        for worker in lp.workers() {
            let served = served_on.clone();
            let bound = super::wait(worker.spawn(move || async move {
                let listener = TcpListener::bind(addr)?;
                corelane_runtime::task::spawn_detached(accept_loop(listener, served)).unwrap();
                Ok::<(), std::io::Error>(())
            }));
            bound.unwrap();
        }
        ToyEchoServer {
            workers: lp,
            addr,
            served_on,
        }
    }

    pub fn workers(&self) -> &[WorkerLoop] {
        self.workers.workers()
    }
}

async fn accept_loop(listener: TcpListener, served: Arc<Mutex<Vec<usize>>>) {
    while let Ok(stream) = listener.accept().await {
        let id = WorkerLoop::current().map(|w| w.id()).unwrap_or(usize::MAX);
        served.lock().unwrap().push(id);
        let me: Me = Rc::new(RefCell::new(None));
        let handler = EchoHandler { me: me.clone() };
        let conn = Registered::register(stream, handler, Limits::default()).unwrap();
        *me.borrow_mut() = Some(conn);
    }
}

impl ServerProvider for ToyEchoServer {
    fn event_loop(&self) -> Arc<dyn EventLoopProvider> {
        self.workers.clone()
    }
}
