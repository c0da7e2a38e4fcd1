//! A TCP proxy in front of a real database server, which a test can stop and start again to
//! play a database that goes down and comes back, or turn into a black hole that accepts
//! connections and data but forwards nothing (a hung server, a dropped firewall state),
//! without touching the shared server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Proxy {
    pub port: u16,
    upstream: String,
    running: Option<Running>,
    /// While set, nothing is forwarded: bytes are read and dropped, new connections held open.
    blackhole: Arc<AtomicBool>,
}

struct Running {
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding a free local port to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mut proxy = Proxy { port, upstream: upstream.to_owned(), running: None, blackhole: Arc::default() };
        proxy.run(listener);
        proxy
    }

    /// Refuses new connections and cuts the open ones, as a stopped server does.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else { return };
        running.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = running.acceptor.join();
        for stream in running.streams.lock().expect("streams").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Stops forwarding, on open connections and new ones, while accepting everything.
    pub fn blackhole(&self) {
        self.blackhole.store(true, Ordering::SeqCst);
    }

    /// Forwards again; connections that were cut off by the black hole stay dead.
    pub fn forward(&self) {
        self.blackhole.store(false, Ordering::SeqCst);
    }

    /// Listens on the same port again.
    pub fn restart(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind proxy port");
        self.run(listener);
    }

    fn run(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (flag, open, upstream, hole) =
            (stop.clone(), streams.clone(), self.upstream.clone(), self.blackhole.clone());
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if hole.load(Ordering::SeqCst) {
                    // Accepted, and never answered.
                    if let Ok(clone) = client.try_clone() {
                        open.lock().expect("streams").push(clone);
                    }
                    swallow(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let mut list = open.lock().expect("streams");
                for s in [&client, &server] {
                    if let Ok(clone) = s.try_clone() {
                        list.push(clone);
                    }
                }
                pipe(&client, &server, &hole);
                pipe(&server, &client, &hole);
            }
        });
        self.running = Some(Running { stop, streams, acceptor });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pipe(from: &TcpStream, to: &TcpStream, hole: &Arc<AtomicBool>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    let hole = hole.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut broken = false;
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                // Once swallowed, a connection's stream is broken for good.
                Ok(_) if broken || hole.load(Ordering::SeqCst) => broken = true,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Reads and drops whatever a client sends, answering nothing.
fn swallow(mut client: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
    });
}
